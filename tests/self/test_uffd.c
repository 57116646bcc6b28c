/* SPDX-License-Identifier: MIT */
/*
 * The userfaultfd source: a registered range reports munmap (even a raw
 * syscall instruction no hook can see), madvise(DONTNEED) and mremap
 * moves, after the fact (UMN_NOTIFIER_RANGE_AFTER, origin UFFD), on the
 * umn reader thread.  Skipped where userfaultfd is not permitted.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <umn/notifier.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

#define PG 4096ul

static unsigned long lo, hi;
static int seen_event = -1;
static unsigned int seen_flags;
static int seen;

static int uffd_start(struct umn_notifier *sub,
		      const struct umn_notifier_range *r)
{
	(void)sub;
	if (r->origin == UMN_ORIGIN_UFFD &&
	    r->start < __atomic_load_n(&hi, __ATOMIC_ACQUIRE) &&
	    r->end > __atomic_load_n(&lo, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&seen_event, r->event, __ATOMIC_RELAXED);
		__atomic_store_n(&seen_flags, r->flags, __ATOMIC_RELAXED);
		__atomic_fetch_add(&seen, 1, __ATOMIC_ACQ_REL);
	}
	return 0;
}

static const struct umn_notifier_ops ops = { .invalidate_range_start = uffd_start };

static char *region(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	memset(p, 5, len);
	__atomic_store_n(&seen, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&lo, (unsigned long)p, __ATOMIC_RELEASE);
	__atomic_store_n(&hi, (unsigned long)p + len, __ATOMIC_RELEASE);
	return p;
}

static void wait_seen(int ev)
{
	for (int i = 0; i < 2000 && !__atomic_load_n(&seen, __ATOMIC_ACQUIRE); i++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	CHECK(__atomic_load_n(&seen, __ATOMIC_ACQUIRE) > 0);
	CHECK_EQ(__atomic_load_n(&seen_event, __ATOMIC_RELAXED), ev);
	CHECK(__atomic_load_n(&seen_flags, __ATOMIC_RELAXED) &
	      UMN_NOTIFIER_RANGE_AFTER);
}

static long raw_munmap(void *p, size_t len)
{
	long ret;

	/* an inline syscall instruction: no hook can see this one */
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"((long)SYS_munmap), "D"(p), "S"(len)
			 : "rcx", "r11", "memory");
	return ret;
}

int main(void)
{
	struct umn_notifier sub = { .ops = &ops };
	struct umn_mm *mm = umn_mm_self();
	char *p, *q;
	int ret;

	CHECK(mm != NULL);
	p = region(4 * PG);
	ret = umn_self_uffd_register(p, 4 * PG);
	if (ret == -ENOSYS || ret == -EPERM) {
		printf("# skip: userfaultfd unavailable (%d)\n", ret);
		return T_SKIP;
	}
	CHECK_EQ(ret, 0);
	CHECK_EQ(umn_self_uffd_register(p + 1, PG), -EINVAL);
	CHECK_EQ(umn_notifier_register(&sub, mm), 0);

	/* madvise DONTNEED: REMOVE event, delivered as CLEAR */
	CHECK_EQ(madvise(p, 2 * PG, MADV_DONTNEED), 0);
	wait_seen(UMN_NOTIFY_CLEAR);

	/* a raw syscall instruction: only userfaultfd sees it */
	__atomic_store_n(&seen, 0, __ATOMIC_RELEASE);
	CHECK_EQ(raw_munmap(p, 4 * PG), 0);
	wait_seen(UMN_NOTIFY_UNMAP);

	/* mremap moving a registered range: REMAP, delivered as UNMAP */
	q = region(2 * PG);
	CHECK_EQ(umn_self_uffd_register(q, 2 * PG), 0);
	p = mremap(q, 2 * PG, 64 * PG, MREMAP_MAYMOVE);
	CHECK(p != MAP_FAILED);
	if (p != q)
		wait_seen(UMN_NOTIFY_UNMAP);
	CHECK_EQ(munmap(p, 64 * PG), 0);

	/* unregister: no more uffd events for the range */
	p = region(2 * PG);
	CHECK_EQ(umn_self_uffd_register(p, 2 * PG), 0);
	CHECK_EQ(umn_self_uffd_unregister(p, 2 * PG), 0);
	CHECK_EQ(raw_munmap(p, 2 * PG), 0);
	usleep(20000);
	CHECK_EQ(__atomic_load_n(&seen, __ATOMIC_ACQUIRE), 0);

	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	printf("ok - uffd\n");
	return 0;
}
