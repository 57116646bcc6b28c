/* SPDX-License-Identifier: MIT */
/*
 * The coverage self-test: fire each call once on scratch memory, with a
 * classic subscription on umn_mm_self() watching the scratch range, and
 * check that invalidate_range_start and _end both arrived before the call
 * returned.  Each row names the origin (source) that reported it.
 *
 * The calls go through the normal symbol lookup (so a sanitizer's or the
 * interposition source's definitions are on the path, as in the program)
 * and through glibc's internal paths (free, realloc, malloc_trim).
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <umn/notifier.h>
#include "self_internal.h"

#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif

static struct {
	unsigned long lo, hi; /* armed window; lo == hi: disarmed */
	int starts, ends;
	unsigned int origin;
} watch;

static int w_start(struct umn_notifier *sub,
		   const struct umn_notifier_range *r)
{
	unsigned long lo = __atomic_load_n(&watch.lo, __ATOMIC_ACQUIRE);
	unsigned long hi = __atomic_load_n(&watch.hi, __ATOMIC_ACQUIRE);

	(void)sub;
	if (r->start < hi && r->end > lo) {
		if (__atomic_fetch_add(&watch.starts, 1, __ATOMIC_ACQ_REL) == 0)
			__atomic_store_n(&watch.origin, r->origin,
					 __ATOMIC_RELEASE);
	}
	return 0;
}

static void w_end(struct umn_notifier *sub, const struct umn_notifier_range *r)
{
	unsigned long lo = __atomic_load_n(&watch.lo, __ATOMIC_ACQUIRE);
	unsigned long hi = __atomic_load_n(&watch.hi, __ATOMIC_ACQUIRE);

	(void)sub;
	if (r->start < hi && r->end > lo)
		__atomic_fetch_add(&watch.ends, 1, __ATOMIC_ACQ_REL);
}

static const struct umn_notifier_ops watch_ops = {
	.invalidate_range_start = w_start,
	.invalidate_range_end = w_end,
};

static void arm(const void *p, size_t len)
{
	__atomic_store_n(&watch.starts, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&watch.ends, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&watch.origin, UMN_ORIGIN_NR, __ATOMIC_RELEASE);
	__atomic_store_n(&watch.lo, (unsigned long)p, __ATOMIC_RELEASE);
	__atomic_store_n(&watch.hi, (unsigned long)p + len, __ATOMIC_RELEASE);
}

static void disarm(void)
{
	__atomic_store_n(&watch.lo, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&watch.hi, 0, __ATOMIC_RELEASE);
}

struct rows {
	struct umn_self_coverage *out;
	size_t n, used;
};

/* Record the outcome of the call just made (the window is still armed). */
static void row(struct rows *r, const char *call, int error)
{
	struct umn_self_coverage c = { .call = call, .error = error };

	if (!error) {
		c.covered = __atomic_load_n(&watch.starts, __ATOMIC_ACQUIRE) > 0 &&
			    __atomic_load_n(&watch.ends, __ATOMIC_ACQUIRE) > 0;
		c.origin = __atomic_load_n(&watch.origin, __ATOMIC_ACQUIRE);
	} else {
		c.origin = UMN_ORIGIN_NR;
	}
	disarm();
	if (r->used < r->n)
		r->out[r->used] = c;
	r->used++;
}

static void *scratch(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 1, len);
	return p;
}

#define PG 4096ul
#define LARGE (33ul << 20) /* above glibc's largest dynamic mmap threshold */

static void t_munmap(struct rows *r)
{
	void *p = scratch(2 * PG);

	if (!p)
		return row(r, "munmap", -ENOMEM);
	arm(p, 2 * PG);
	munmap(p, 2 * PG);
	row(r, "munmap", 0);
}

static void t_mremap(struct rows *r)
{
	void *p = scratch(PG), *q;

	if (!p)
		return row(r, "mremap", -ENOMEM);
	arm(p, PG);
	q = mremap(p, PG, 64 * PG, MREMAP_MAYMOVE);
	row(r, "mremap", q == MAP_FAILED ? -errno : 0);
	munmap(q == MAP_FAILED ? p : q, q == MAP_FAILED ? PG : 64 * PG);
}

static void t_madvise(struct rows *r)
{
	void *p = scratch(2 * PG);
	int e;

	if (!p)
		return row(r, "madvise(DONTNEED)", -ENOMEM);
	arm(p, 2 * PG);
	e = madvise(p, 2 * PG, MADV_DONTNEED) ? -errno : 0;
	row(r, "madvise(DONTNEED)", e);
	munmap(p, 2 * PG);
}

static void t_mmap_fixed(struct rows *r)
{
	void *p = scratch(2 * PG), *q;

	if (!p)
		return row(r, "mmap(MAP_FIXED)", -ENOMEM);
	arm(p, 2 * PG);
	q = mmap(p, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0);
	row(r, "mmap(MAP_FIXED)", q == MAP_FAILED ? -errno : 0);
	munmap(p, 2 * PG);
}

static void t_mprotect(struct rows *r)
{
	void *p = scratch(PG);
	int e;

	if (!p)
		return row(r, "mprotect", -ENOMEM);
	arm(p, PG);
	e = mprotect(p, PG, PROT_READ) ? -errno : 0;
	row(r, "mprotect", e);
	munmap(p, PG);
}

static void t_sbrk(struct rows *r)
{
	char *cur = sbrk(0);

	if (cur == (void *)-1 || sbrk((intptr_t)PG) == (void *)-1)
		return row(r, "sbrk(shrink)", -ENOMEM);
	arm(cur, 2 * PG);
	if (sbrk(-(intptr_t)PG) == (void *)-1)
		return row(r, "sbrk(shrink)", -errno);
	row(r, "sbrk(shrink)", 0);
}

static void t_shm(struct rows *r)
{
	int id = shmget(IPC_PRIVATE, PG, IPC_CREAT | 0600);
	void *p, *q;

	if (id < 0) {
		row(r, "shmdt", -errno);
		return row(r, "shmat(SHM_REMAP)", -errno);
	}
	p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		shmctl(id, IPC_RMID, NULL);
		row(r, "shmdt", -errno);
		return row(r, "shmat(SHM_REMAP)", -errno);
	}
	arm(p, PG);
	shmdt(p);
	row(r, "shmdt", 0);

	p = scratch(PG);
	if (!p) {
		shmctl(id, IPC_RMID, NULL);
		return row(r, "shmat(SHM_REMAP)", -ENOMEM);
	}
	arm(p, PG);
	q = shmat(id, p, SHM_REMAP);
	row(r, "shmat(SHM_REMAP)", q == (void *)-1 ? -errno : 0);
	if (q != (void *)-1)
		shmdt(q);
	else
		munmap(p, PG);
	shmctl(id, IPC_RMID, NULL);
}

static void t_free_large(struct rows *r)
{
	char *p = malloc(LARGE);

	if (!p)
		return row(r, "free(large)", -ENOMEM);
	p[0] = 1;
	arm(p, LARGE);
	free(p);
	row(r, "free(large)", 0);
}

static void t_realloc(struct rows *r)
{
	char *p = malloc(LARGE), *q;

	if (!p)
		return row(r, "realloc(large)", -ENOMEM);
	p[0] = 1;
	arm(p, LARGE);
	q = realloc(p, LARGE + (8ul << 20));
	row(r, "realloc(large)", q ? 0 : -ENOMEM);
	free(q ? q : p);
}

static void t_malloc_trim(struct rows *r)
{
	enum { N = 32, SZ = 64 * 1024 };
	char *blk[N], *guard;
	unsigned long lo = ~0ul, hi = 0;

	for (int i = 0; i < N; i++) {
		blk[i] = malloc(SZ);
		if (!blk[i]) {
			while (i--)
				free(blk[i]);
			return row(r, "malloc_trim", -ENOMEM);
		}
		memset(blk[i], 2, SZ);
	}
	guard = malloc(64);
	for (int i = 0; i < N; i++) {
		unsigned long a = (unsigned long)blk[i];

		lo = a < lo ? a : lo;
		hi = a + SZ > hi ? a + SZ : hi;
		free(blk[i]);
	}
	arm((void *)lo, hi - lo);
	malloc_trim(0);
	row(r, "malloc_trim", 0);
	free(guard);
}

static void t_syscall(struct rows *r)
{
	void *p = scratch(PG);

	if (!p)
		return row(r, "syscall(SYS_munmap)", -ENOMEM);
	arm(p, PG);
	syscall(SYS_munmap, p, PG);
	row(r, "syscall(SYS_munmap)", 0);
}

static void t_process_madvise(struct rows *r)
{
	void *p = scratch(2 * PG);
	struct iovec iov = { .iov_base = p, .iov_len = 2 * PG };
	long fd;
	ssize_t n;

	if (!p)
		return row(r, "process_madvise", -ENOMEM);
	fd = syscall(SYS_pidfd_open, getpid(), 0);
	if (fd < 0) {
		munmap(p, 2 * PG);
		return row(r, "process_madvise", -errno);
	}
	arm(p, 2 * PG);
	n = process_madvise((int)fd, &iov, 1, MADV_DONTNEED, 0);
	row(r, "process_madvise", n < 0 ? -errno : 0);
	close((int)fd);
	munmap(p, 2 * PG);
}

int umn_self_selftest(struct umn_self_coverage *out, size_t n)
{
	static const struct umn_notifier sub_init = { .ops = &watch_ops };
	struct umn_notifier sub = sub_init;
	struct rows r = { out, n, 0 };
	struct umn_mm *mm = umn_mm_self();
	int ret;

	if (!mm)
		return -errno;
	if (n && !out)
		return -EINVAL;
	disarm();
	ret = umn_notifier_register(&sub, mm);
	if (ret)
		return ret;
	t_munmap(&r);
	t_mremap(&r);
	t_madvise(&r);
	t_mmap_fixed(&r);
	t_mprotect(&r);
	t_sbrk(&r);
	t_shm(&r);
	t_free_large(&r);
	t_realloc(&r);
	t_malloc_trim(&r);
	t_syscall(&r);
	t_process_madvise(&r);
	umn_notifier_unregister(&sub, mm);
	return (int)(r.used < n ? r.used : n);
}
