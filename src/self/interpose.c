/* SPDX-License-Identifier: MIT */
/*
 * The interposition source: libumn defines munmap, mremap, madvise,
 * process_madvise, mmap, mprotect, brk, sbrk, shmat, shmdt and syscall
 * itself (exported with glibc's version names, see component.cmake), so a
 * program linked with -lumn, or run with LD_PRELOAD=libumn.so, calls ours.
 *
 * What it sees: the program's own calls and those of other libraries that
 * go through symbol lookup.  What it misses: glibc's internal calls (free()
 * of a large block, realloc, heap trim, malloc_trim, thread stacks), which
 * use internal aliases; the patch source covers those.
 *
 * When the interposition source is not active, every function here only
 * forwards: to libc's own entry point (which may be patched, so the patch
 * source reports the call), or before initialisation to the kernel.  So
 * exporting these symbols changes nothing for a program that never calls
 * umn_mm_self().
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <umn/notifier.h>
#include "self_internal.h"

static struct {
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	int (*madvise)(void *, size_t, int);
	ssize_t (*process_madvise)(int, const struct iovec *, size_t, int,
				   unsigned int);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*mprotect)(void *, size_t, int);
	int (*brk)(void *);
	void *(*sbrk)(intptr_t);
	void *(*shmat)(int, const void *, int);
	int (*shmdt)(const void *);
	long (*syscall)(long, ...);
	umnp_pthread_create_fn pthread_create;
} libc_fn;

static bool resolved;

#define RESOLVE(h, name, ver)                                                \
	do {                                                                 \
		void *p_ = dlvsym(h, #name, ver);                            \
		if (!p_)                                                     \
			p_ = dlsym(h, #name);                                \
		__atomic_store_n((void **)&libc_fn.name, p_,                 \
				 __ATOMIC_RELEASE);                          \
	} while (0)

/*
 * A static program (no libc.so.6): our definitions replaced libc.a's weak
 * munmap, mmap, ... at link time, but libc's entry points are still in the
 * executable under their internal names.  Forward to those (their
 * system-call sites are patched by discovery; brk/sbrk keep __curbrk).
 * shmat, shmdt, process_madvise and syscall have no second name: libc's
 * copies are not linked, and ours always report.
 */
static int interpose_init_static(void)
{
	static const char *const names[] = { "__munmap", "__mremap",
		"__madvise", "__mmap", "__mprotect", "__brk", "__sbrk",
		"pthread_create" };
	void *p[8];

	umnp_self_exe_symbols(names, p, 8);
	if (!p[0])
		return -ENOTSUP;
	*(void **)&libc_fn.munmap = p[0];
	*(void **)&libc_fn.mremap = p[1];
	*(void **)&libc_fn.madvise = p[2];
	*(void **)&libc_fn.mmap = p[3];
	*(void **)&libc_fn.mprotect = p[4];
	*(void **)&libc_fn.brk = p[5];
	*(void **)&libc_fn.sbrk = p[6];
	*(void **)&libc_fn.pthread_create = p[7]; /* not ours: not defined */
	__atomic_store_n(&resolved, true, __ATOMIC_RELEASE);
	return 0;
}

int umnp_self_interpose_init(void)
{
	void *h;

	if (__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
		return 0;
	h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return interpose_init_static();
	RESOLVE(h, munmap, "GLIBC_2.2.5");
	RESOLVE(h, mremap, "GLIBC_2.2.5");
	RESOLVE(h, madvise, "GLIBC_2.2.5");
	RESOLVE(h, process_madvise, "GLIBC_2.36");
	RESOLVE(h, mmap, "GLIBC_2.2.5");
	RESOLVE(h, mprotect, "GLIBC_2.2.5");
	RESOLVE(h, brk, "GLIBC_2.2.5");
	RESOLVE(h, sbrk, "GLIBC_2.2.5");
	RESOLVE(h, shmat, "GLIBC_2.2.5");
	RESOLVE(h, shmdt, "GLIBC_2.2.5");
	RESOLVE(h, syscall, "GLIBC_2.2.5");
	RESOLVE(h, pthread_create, "GLIBC_2.34");
	dlclose(h);
	__atomic_store_n(&resolved, true, __ATOMIC_RELEASE);
	return 0;
}

/* Resolve early, from the loader, so no hook ever needs dlsym. */
__attribute__((constructor)) static void interpose_ctor(void)
{
	umnp_self_interpose_init();
}

bool umnp_self_interpose_effective(void)
{
	void *p = dlsym(RTLD_DEFAULT, "munmap");

	/* Ours, or a sanitizer's interceptor in front of ours; not libc's. */
	return p && p != (void *)libc_fn.munmap;
}

static bool interposing(void)
{
	return (__atomic_load_n(&umnp_self_active, __ATOMIC_ACQUIRE) &
		UMN_SELF_INTERPOSE) != 0;
}

static long libc_ret(long r)
{
	if (umnp_self_is_err(r)) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

static long hooked(long nr, long a1, long a2, long a3, long a4, long a5,
		   long a6)
{
	const long a[6] = { a1, a2, a3, a4, a5, a6 };

	return libc_ret(umnp_self_call(UMN_ORIGIN_INTERPOSE, nr, a, NULL,
				       NULL));
}

#define FWD(name) __atomic_load_n(&libc_fn.name, __ATOMIC_ACQUIRE)

int munmap(void *addr, size_t len)
{
	int (*f)(void *, size_t) = FWD(munmap);

	if (interposing() || !f)
		return (int)hooked(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0);
	return f(addr, len);
}

void *mremap(void *addr, size_t olen, size_t nlen, int flags, ...)
{
	void *(*f)(void *, size_t, size_t, int, ...) = FWD(mremap);
	void *naddr = NULL;

	if (flags & MREMAP_FIXED) {
		va_list ap;

		va_start(ap, flags);
		naddr = va_arg(ap, void *);
		va_end(ap);
	}
	if (interposing() || !f)
		return (void *)hooked(SYS_mremap, (long)addr, (long)olen,
				      (long)nlen, flags, (long)naddr, 0);
	return f(addr, olen, nlen, flags, naddr);
}

int madvise(void *addr, size_t len, int advice)
{
	int (*f)(void *, size_t, int) = FWD(madvise);

	if (interposing() || !f)
		return (int)hooked(SYS_madvise, (long)addr, (long)len, advice,
				   0, 0, 0);
	return f(addr, len, advice);
}

ssize_t process_madvise(int pidfd, const struct iovec *iov, size_t n,
			int advice, unsigned int flags)
{
	ssize_t (*f)(int, const struct iovec *, size_t, int, unsigned int) =
		FWD(process_madvise);

	if (interposing() || !f)
		return hooked(SYS_process_madvise, pidfd, (long)iov, (long)n,
			      advice, flags, 0);
	return f(pidfd, iov, n, advice, flags);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *(*f)(void *, size_t, int, int, int, off_t) = FWD(mmap);

	if (interposing() || !f)
		return (void *)hooked(SYS_mmap, (long)addr, (long)len, prot,
				      flags, fd, off);
	return f(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return mmap(addr, len, prot, flags, fd, (off_t)off);
}

int mprotect(void *addr, size_t len, int prot)
{
	int (*f)(void *, size_t, int) = FWD(mprotect);

	if (interposing() || !f)
		return (int)hooked(SYS_mprotect, (long)addr, (long)len, prot,
				   0, 0, 0);
	return f(addr, len, prot);
}

/* brk/sbrk must go through libc, which keeps its own idea of the break. */
static long real_brk(const long a[6], void *ctx)
{
	int (*f)(void *) = ctx;

	return f((void *)a[0]) == 0 ? 0 : -(long)errno;
}

int brk(void *addr)
{
	int (*f)(void *) = FWD(brk);
	const long a[6] = { (long)addr };

	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	if (!interposing())
		return f(addr);
	return (int)libc_ret(umnp_self_call(UMN_ORIGIN_INTERPOSE, SYS_brk, a,
					    real_brk, (void *)f));
}

static long real_sbrk(const long a[6], void *ctx)
{
	void *(*f)(intptr_t) = ctx;
	void *r = f((intptr_t)a[1]);

	return r == (void *)-1 ? -(long)errno : (long)r;
}

void *sbrk(intptr_t incr)
{
	void *(*f)(intptr_t) = FWD(sbrk);
	long a[6] = { 0, (long)incr };

	if (!f) {
		errno = ENOSYS;
		return (void *)-1;
	}
	if (!interposing() || incr >= 0)
		return f(incr);
	/* A shrink is brk(current + incr) to the kernel. */
	a[0] = (long)f(0) + incr;
	return (void *)libc_ret(umnp_self_call(UMN_ORIGIN_INTERPOSE, SYS_brk, a,
					       real_sbrk, (void *)f));
}

void *shmat(int id, const void *addr, int flags)
{
	void *(*f)(int, const void *, int) = FWD(shmat);

	if (interposing() || !f)
		return (void *)hooked(SYS_shmat, id, (long)addr, flags, 0, 0, 0);
	return f(id, addr, flags);
}

int shmdt(const void *addr)
{
	int (*f)(const void *) = FWD(shmdt);

	if (interposing() || !f)
		return (int)hooked(SYS_shmdt, (long)addr, 0, 0, 0, 0, 0);
	return f(addr);
}

long syscall(long nr, ...)
{
	long (*f)(long, ...) = FWD(syscall);
	long a[6];
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if ((interposing() || !f) && umnp_self_nr_interesting(nr))
		return hooked(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (f)
		return f(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	return libc_ret(umnp_self_raw6(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
}

/*
 * Private (<umn/self.h>), for libumn.so's pthread_create
 * (interpose_thread.c) and libumn-trace.so's: libc's pthread_create, the new
 * thread arming the safety net first when it is on.
 */
int umn__self_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			     void *(*start)(void *), void *arg)
{
	umnp_pthread_create_fn f = FWD(pthread_create);

	if (!f) {
		/* called before our constructor (another one's) */
		umnp_self_interpose_init();
		f = FWD(pthread_create);
		if (!f)
			return EAGAIN;
	}
	return umnp_self_sud_thread_create(f, thread, attr, start, arg);
}
