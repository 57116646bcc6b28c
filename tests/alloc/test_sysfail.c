/* SPDX-License-Identifier: MIT */
/*
 * Failing system calls of the self sources (src/self): umn's raw system
 * call with a given number is made to fail (umn__fault_syscall_fail), as
 * it does under SELinux execmem or a sealed mapping (mprotect of a patch
 * page), in a sandbox without /proc (open of /proc/self/maps, of the ELF
 * files discovery reads), or with vm.unprivileged_userfaultfd=0
 * (userfaultfd).  Each case runs in a fresh child (patching is
 * process-wide) under a watchdog and checks the documented result, that
 * nothing crashes, and that the next call after the fault succeeds.
 * LeakSanitizer checks every child in the ASan build.
 * Needs a -DUMN_FAULT_INJECT=ON build; skips (77) otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <umn/notifier.h>
#include <umn/self.h>
#include "harness.h"

#if !UMN_FAULT_INJECT
int main(void)
{
	printf("# needs -DUMN_FAULT_INJECT=ON: skipped\n");
	return T_SKIP;
}
#else
#include "alloc.h"

#define PG 4096ul
/* hooks.c: the end of a shmdt range it cannot measure */
#define SHM_UNKNOWN_END 0x00fffffffffff000ul

/* ---- a classic subscriber that records the last range in [lo, hi) ---- */

static unsigned long lo, hi, seen_start, seen_end;
static int seen_event = -1, seen;

static int rec_start(struct umn_notifier *sub,
		     const struct umn_notifier_range *r)
{
	(void)sub;
	if (r->start < __atomic_load_n(&hi, __ATOMIC_ACQUIRE) &&
	    r->end > __atomic_load_n(&lo, __ATOMIC_ACQUIRE)) {
		seen_start = r->start;
		seen_end = r->end;
		seen_event = r->event;
		__atomic_fetch_add(&seen, 1, __ATOMIC_ACQ_REL);
	}
	return 0;
}

static const struct umn_notifier_ops rec_ops = {
	.invalidate_range_start = rec_start,
};
static struct umn_notifier rec = { .ops = &rec_ops };

static void watch(void *p, size_t len)
{
	__atomic_store_n(&seen, 0, __ATOMIC_RELEASE);
	seen_event = -1;
	__atomic_store_n(&lo, (unsigned long)p, __ATOMIC_RELEASE);
	__atomic_store_n(&hi, (unsigned long)p + len, __ATOMIC_RELEASE);
}

/* The hooks still report munmap (and mprotect works): the source works. */
static void check_munmap_reported(void)
{
	char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	p[0] = 1;
	CHECK_EQ(mprotect(p, PG, PROT_READ), 0);
	watch(p, 4 * PG);
	CHECK_EQ(munmap(p, 4 * PG), 0);
	CHECK(__atomic_load_n(&seen, __ATOMIC_ACQUIRE) > 0);
	CHECK_EQ(seen_event, UMN_NOTIFY_UNMAP);
	CHECK(seen_start <= (unsigned long)p);
	CHECK(seen_end >= (unsigned long)p + 4 * PG);
}

/* stderr into a file; returns the fd to read it back from. */
static int capture_stderr(void)
{
	char path[] = "/tmp/umn-sysfail-XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	unlink(path);
	fflush(stderr);
	CHECK(dup2(fd, 2) == 2);
	return fd;
}

static bool captured_has(int fd, const char *what)
{
	static char buf[16384];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	CHECK(n >= 0);
	buf[n] = 0;
	return strstr(buf, what) != NULL;
}

/* ---- the cases, each in its own child ---- */

/* (a) the mprotect that makes a patch page writable is refused: the
 * default init falls back to interposition and says so. */
static void case_mprotect_fallback(int err)
{
	int fd;

	setenv("UMN_SELF_DEBUG", "1", 1);
	fd = capture_stderr();
	umn__fault_syscall_fail(SYS_mprotect, err, 0);
	CHECK_EQ(umn_self_init(0), 0);
	CHECK(umn__fault_syscall_count() > 0);
	umn__fault_syscall_fail(-1, 0, 0);
	CHECK_EQ(umn_self_sources(), UMN_SELF_INTERPOSE);
	CHECK(captured_has(fd, "umn: patching failed ("));
	CHECK(captured_has(fd, "interposition instead"));
	CHECK(umn_mm_self() != NULL);
	CHECK_EQ(umn_notifier_register(&rec, umn_mm_self()), 0);
	check_munmap_reported();
	CHECK_EQ(umn_notifier_unregister(&rec, umn_mm_self()), 0);
}

/* umn_mm_self() fails, and keeps failing the same way (it once returned
 * NULL and then an address space with no source). */
static void check_mm_self_fails(int want)
{
	for (int i = 0; i < 3; i++) {
		errno = 0;
		CHECK(umn_mm_self() == NULL);
		CHECK_EQ(errno, want);
		CHECK_EQ(umn_self_sources(), 0);
	}
	CHECK_EQ(umn_self_init(0), -ENOTSUP);
	CHECK_EQ(umn_self_init(UMN_SELF_INTERPOSE), -ENOTSUP);
	errno = 0;
	CHECK(umn_mm_self() == NULL);
	CHECK_EQ(errno, want);
	/* nor can a userfaultfd range be registered for nobody */
	{
		static char page[4096] __attribute__((aligned(4096)));

		CHECK_EQ(umn_self_uffd_register(page, sizeof(page)), -want);
	}
}

/* (a) the first call is umn_mm_self(), with patching alone asked for
 * (UMN_SOURCES=patch): NULL with EPERM, then the same on every call. */
static void case_mprotect_mm_self_first(int err)
{
	setenv("UMN_SOURCES", "patch", 1);
	umn__fault_syscall_fail(SYS_mprotect, err, 0);
	errno = 0;
	CHECK(umn_mm_self() == NULL);
	CHECK_EQ(errno, EPERM);
	CHECK(umn__fault_syscall_count() > 0);
	umn__fault_syscall_fail(-1, 0, 0);
	check_mm_self_fails(EPERM);
}

/* (a) patching only: init fails with the reason (-EPERM), then -ENOTSUP;
 * no source is active, nothing is half-patched. */
static void case_mprotect_patch_only(int err)
{
	umn__fault_syscall_fail(SYS_mprotect, err, 0);
	CHECK_EQ(umn_self_init(UMN_SELF_PATCH), -EPERM);
	umn__fault_syscall_fail(-1, 0, 0);
	CHECK_EQ(umn_self_sources(), 0);
	CHECK_EQ(umn_self_init(UMN_SELF_PATCH), -ENOTSUP);
	/* umn_mm_self() reports the first failure's reason, every time */
	check_mm_self_fails(EPERM);
	/* the program's own calls are unaffected */
	{
		char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		CHECK(p != MAP_FAILED);
		CHECK_EQ(mprotect(p, PG, PROT_READ), 0);
		CHECK_EQ(munmap(p, PG), 0);
	}
}

/*
 * (a) every mprotect from the k-th on is refused (a sealed libc text, a
 * page protected after the first ones were done): init returns 0 (what
 * could be patched is, munmap is reported) or -EPERM (munmap could not
 * be), and never writes to a page it could not make writable.  Exits 3
 * when init made fewer than k+1 mprotect calls: the sweep is done.
 */
static void case_mprotect_from(unsigned long k)
{
	unsigned long failed;
	int r;

	umn__fault_syscall_fail(SYS_mprotect, EPERM, k);
	r = umn_self_init(UMN_SELF_PATCH);
	failed = umn__fault_syscall_count();
	umn__fault_syscall_fail(-1, 0, 0);
	if (r != 0 && r != -EPERM)
		fprintf(stderr, "k=%lu: umn_self_init returned %d\n", k, r);
	CHECK(r == 0 || r == -EPERM);
	if (r == 0) {
		CHECK_EQ(umn_self_sources(), UMN_SELF_PATCH);
		CHECK_EQ(umn_notifier_register(&rec, umn_mm_self()), 0);
		check_munmap_reported();
		CHECK_EQ(umn_notifier_unregister(&rec, umn_mm_self()), 0);
	} else {
		CHECK(failed > 0);
		CHECK_EQ(umn_self_sources(), 0);
	}
	exit(failed ? 0 : 3);
}

/* shmdt of a 2-page segment: returns 0; the range seen is returned. */
static void shm_detach(unsigned long *s, unsigned long *e)
{
	int id = shmget(IPC_PRIVATE, 2 * PG, IPC_CREAT | 0600);
	char *p;

	CHECK(id >= 0);
	p = shmat(id, NULL, 0);
	CHECK(p != (void *)-1);
	CHECK_EQ(shmctl(id, IPC_RMID, NULL), 0);
	p[0] = 1;
	watch(p, 2 * PG);
	CHECK_EQ(shmdt(p), 0);
	CHECK(__atomic_load_n(&seen, __ATOMIC_ACQUIRE) > 0);
	CHECK_EQ(seen_event, UMN_NOTIFY_UNMAP);
	CHECK_EQ(seen_start, (unsigned long)p);
	*s = seen_start;
	*e = seen_end;
}

/* (b) no open() succeeds (no /proc, no ELF files for discovery): patching
 * still works from libc's symbols; a shmdt whose segment cannot be
 * measured is reported from its address to the top of the address space
 * (over-reported, never missed) and proceeds. */
static void case_open(int err)
{
	unsigned long s, e;

	umn__fault_syscall_fail(SYS_open, err, 0);
	CHECK_EQ(umn_self_init(0), 0);
	CHECK(umn_self_sources() & UMN_SELF_PATCH);
	CHECK_EQ(umn_notifier_register(&rec, umn_mm_self()), 0);
	check_munmap_reported();
	shm_detach(&s, &e);
	CHECK(umn__fault_syscall_count() > 0);
	CHECK_EQ(e, SHM_UNKNOWN_END);
	umn__fault_syscall_fail(-1, 0, 0);
	/* /proc readable again: the exact range */
	shm_detach(&s, &e);
	CHECK_EQ(e - s, 2 * PG);
	CHECK_EQ(umn_notifier_unregister(&rec, umn_mm_self()), 0);
}

/* (c) userfaultfd refused: register returns -EPERM/-ENOSYS, and so does
 * every later call (the refusal is remembered); a transient failure
 * (EMFILE) is returned as is and the next call succeeds. */
static void case_uffd(int err)
{
	char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int want = err == EMFILE ? -EMFILE : err == EPERM ? -EPERM : -ENOSYS;

	CHECK(p != MAP_FAILED);
	CHECK(umn_mm_self() != NULL);
	umn__fault_syscall_fail(SYS_userfaultfd, err, 0);
	CHECK_EQ(umn_self_uffd_register(p, 2 * PG), want);
	CHECK(umn__fault_syscall_count() > 0);
	umn__fault_syscall_fail(-1, 0, 0);
	if (err == EMFILE) {
		int r = umn_self_uffd_register(p, 2 * PG);

		if (r == -EPERM || r == -ENOSYS) {
			printf("# userfaultfd unavailable here (%d)\n", r);
		} else {
			CHECK_EQ(r, 0);
			CHECK_EQ(umn_self_uffd_unregister(p, 2 * PG), 0);
		}
	} else {
		CHECK_EQ(umn_self_uffd_register(p, 2 * PG), want);
		CHECK_EQ(umn_self_uffd_unregister(p, 2 * PG), want);
	}
	CHECK_EQ(munmap(p, 2 * PG), 0);
}

static int failures;

static void run(const char *name, void (*fn)(int), int err)
{
	pid_t pid = (fflush(stdout), fork());
	int st;

	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(20); /* a hang dies by SIGALRM, reported below */
		fn(err);
		exit(0);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		printf("ok - %s (%s)\n", name, strerror(err));
		return;
	}
	printf("not ok - %s (%s): %s %d\n", name, strerror(err),
	       WIFSIGNALED(st) ? "signal" : "exit",
	       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	failures++;
}

int main(void)
{
	/* The parent never initializes umn: each child starts unpatched. */
	fflush(stdout);
	run("mprotect refused: fallback to interposition",
	    case_mprotect_fallback, EACCES);
	run("mprotect refused: fallback to interposition",
	    case_mprotect_fallback, EPERM);
	run("mprotect refused: patching only", case_mprotect_patch_only,
	    EACCES);
	run("mprotect refused: patching only", case_mprotect_patch_only,
	    EPERM);
	run("mprotect refused: umn_mm_self() first, patching only",
	    case_mprotect_mm_self_first, EACCES);
	run("mprotect refused: umn_mm_self() first, patching only",
	    case_mprotect_mm_self_first, EPERM);
	{
		unsigned long k;
		int st = 0;

		for (k = 0; k < 10000; k++) {
			pid_t pid = (fflush(stdout), fork());

			CHECK(pid >= 0);
			if (pid == 0) {
				alarm(20);
				case_mprotect_from(k);
			}
			CHECK_EQ(waitpid(pid, &st, 0), pid);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				break;
		}
		if (WIFEXITED(st) && WEXITSTATUS(st) == 3 && k > 0) {
			printf("ok - mprotect refused from the k-th call, "
			       "k = 0..%lu\n", k - 1);
		} else {
			printf("not ok - mprotect refused from call %lu: "
			       "%s %d\n", k,
			       WIFSIGNALED(st) ? "signal" : "exit",
			       WIFSIGNALED(st) ? WTERMSIG(st) :
			       WEXITSTATUS(st));
			failures++;
		}
	}
	run("open refused: patch, shmdt over-reported", case_open, ENOENT);
	run("open refused: patch, shmdt over-reported", case_open, EACCES);
	run("userfaultfd refused", case_uffd, EPERM);
	run("userfaultfd refused", case_uffd, ENOSYS);
	run("userfaultfd transient failure", case_uffd, EMFILE);
	return failures ? 1 : 0;
}
#endif
