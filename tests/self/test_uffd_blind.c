/* SPDX-License-Identifier: MIT */
/*
 * What no source sees (doc/sources.md, "What no system-call hook can
 * see"), shown rather than assumed: another process truncates a memfd this
 * process maps MAP_SHARED.  The kernel drops the pages from our page
 * tables, and
 *   - no hook runs (the call is the other process's);
 *   - a userfaultfd registration of the range reports nothing either.
 * As a control, a MADV_REMOVE of the same registered range by this process
 * through an inline syscall instruction (no hook sees it) IS reported by
 * userfaultfd.  If a future kernel reports the truncation, this test fails
 * and the document must change.  Skipped where userfaultfd (shmem
 * registration) is not permitted.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <umn/notifier.h>
#include <umn/self.h>
#include "harness.h"

#define LEN (16 * 4096ul)

static unsigned long lo, hi;
static int seen;

static int start(struct umn_notifier *sub, const struct umn_notifier_range *r)
{
	(void)sub;
	if (r->start < __atomic_load_n(&hi, __ATOMIC_ACQUIRE) &&
	    r->end > __atomic_load_n(&lo, __ATOMIC_ACQUIRE))
		__atomic_fetch_add(&seen, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static const struct umn_notifier_ops ops = { .invalidate_range_start = start };

static int seen_after(int ms)
{
	for (int i = 0; i < ms && !__atomic_load_n(&seen, __ATOMIC_ACQUIRE);
	     i++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	return __atomic_load_n(&seen, __ATOMIC_ACQUIRE);
}

static long raw_madvise(void *p, size_t len, int advice)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"((long)SYS_madvise), "D"(p), "S"(len),
			   "d"((long)advice)
			 : "rcx", "r11", "memory");
	return ret;
}

int main(void)
{
	struct umn_notifier sub = { .ops = &ops };
	int fd = memfd_create("umn-blind", 0), status, r;
	char *p;
	pid_t pid;

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)LEN), 0);
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 7, LEN);
	CHECK(umn_mm_self() != NULL);
	r = umn_self_uffd_register(p, LEN);
	if (r) {
		printf("# skip: userfaultfd registration of shared memory "
		       "refused here: %s\n", strerror(-r));
		return T_SKIP;
	}
	CHECK_EQ(umn_notifier_register(&sub, umn_mm_self()), 0);
	__atomic_store_n(&lo, (unsigned long)p, __ATOMIC_RELEASE);
	__atomic_store_n(&hi, (unsigned long)p + LEN, __ATOMIC_RELEASE);

	/* Another process truncates the file to nothing. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(ftruncate(fd, 0) == 0 ? 0 : 1);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(seen_after(300), 0);
	printf("# truncation by another process: no hook, no userfaultfd "
	       "event (%d)\n", __atomic_load_n(&seen, __ATOMIC_ACQUIRE));

	/* Control: the registration works for this process's own discard. */
	CHECK_EQ(ftruncate(fd, (off_t)LEN), 0);
	memset(p, 8, LEN);
	CHECK_EQ(raw_madvise(p, LEN, MADV_REMOVE), 0);
	CHECK(seen_after(2000) > 0);
	printf("# control: MADV_REMOVE by a raw syscall: reported by "
	       "userfaultfd\n");

	CHECK_EQ(umn_notifier_unregister(&sub, umn_mm_self()), 0);
	CHECK_EQ(umn_self_uffd_unregister(p, LEN), 0);
	CHECK_EQ(munmap(p, LEN), 0);
	close(fd);
	printf("ok - uffd blind spots\n");
	return 0;
}
