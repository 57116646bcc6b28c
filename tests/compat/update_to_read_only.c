/* SPDX-License-Identifier: MIT */
/*
 * umn_notifier_range_update_to_read_only() on the real process: the self
 * source's mprotect hook carries the new protection in the range.  A
 * classic subscriber on umn_mm_self() records, for ranges over a page of
 * ours, the event and the answer.
 *   mprotect(PROT_READ)               PROTECTION_VMA, true
 *   mprotect(PROT_READ | PROT_EXEC)   PROTECTION_VMA, true
 *   mprotect(PROT_READ | PROT_WRITE)  PROTECTION_VMA, false
 *   mprotect(PROT_NONE)               PROTECTION_VMA, false
 *   madvise(MADV_DONTNEED), munmap    not PROTECTION_VMA, false
 */
#include <sys/mman.h>
#include <umn/umn.h>
#include "harness.h"

static unsigned long page;
static volatile int seen, last_event, last_ro;

static int start(struct umn_notifier *sub,
		 const struct umn_notifier_range *range)
{
	if (range->start <= page && page < range->end) {
		seen++;
		last_event = range->event;
		last_ro = umn_notifier_range_update_to_read_only(range);
	}
	return 0;
}

static const struct umn_notifier_ops ops = {
	.invalidate_range_start = start,
};

static void expect(int (*call)(void), int event, int ro, const char *what)
{
	int before = seen;

	CHECK_EQ(call(), 0);
	if (seen != before + 1 || last_event != event || last_ro != ro) {
		fprintf(stderr, "%s: seen %d event %d read_only %d, expected "
			"event %d read_only %d\n", what, seen - before,
			last_event, last_ro, event, ro);
		exit(1);
	}
	printf("ok - %s\n", what);
}

static int prot_r(void) { return mprotect((void *)page, 4096, PROT_READ); }
static int prot_rx(void) { return mprotect((void *)page, 4096, PROT_READ | PROT_EXEC); }
static int prot_rw(void) { return mprotect((void *)page, 4096, PROT_READ | PROT_WRITE); }
static int prot_none(void) { return mprotect((void *)page, 4096, PROT_NONE); }
static int dontneed(void) { return madvise((void *)page, 4096, MADV_DONTNEED); }
static int unmap(void) { return munmap((void *)page, 4096); }

int main(void)
{
	struct umn_notifier sub = { .ops = &ops };
	struct umn_mm *mm = umn_mm_self();
	void *p;

	if (!mm) {
		printf("SKIP: no event source for umn_mm_self()\n");
		return T_SKIP;
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	page = (unsigned long)p;
	CHECK_EQ(umn_notifier_register(&sub, mm), 0);
	expect(prot_r, UMN_NOTIFY_PROTECTION_VMA, 1, "mprotect(PROT_READ)");
	expect(prot_rx, UMN_NOTIFY_PROTECTION_VMA, 1, "mprotect(PROT_READ|PROT_EXEC)");
	expect(prot_rw, UMN_NOTIFY_PROTECTION_VMA, 0, "mprotect(PROT_READ|PROT_WRITE)");
	expect(prot_none, UMN_NOTIFY_PROTECTION_VMA, 0, "mprotect(PROT_NONE)");
	expect(prot_rw, UMN_NOTIFY_PROTECTION_VMA, 0, "mprotect(PROT_READ|PROT_WRITE) again");
	expect(dontneed, UMN_NOTIFY_CLEAR, 0, "madvise(MADV_DONTNEED)");
	expect(unmap, UMN_NOTIFY_UNMAP, 0, "munmap");
	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	printf("update_to_read_only: 7 passed, 0 failed\n");
	return 0;
}
