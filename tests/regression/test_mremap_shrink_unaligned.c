/* SPDX-License-Identifier: MIT */
/*
 * A shrinking mremap whose new length is not a page multiple: the kernel
 * keeps the page the new length ends in and unmaps the pages after it, so
 * the event source must report [addr + round_up(new_len), addr + old_len).
 * (Found by verify/mutate.sh: a tail computed from the unrounded length is
 * unaligned, dropped, and no secondary hears of the unmap.)  Runs with the
 * default sources; skips (77) if none can be installed.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>
#include <umn/umn.h>
#include <umn/self.h>
#include "harness.h"

static volatile unsigned long ev_start, ev_end;
static volatile int ev_n;

static bool record(struct umn_interval_notifier *sub,
		   const struct umn_notifier_range *range, unsigned long cur_seq)
{
	umn_interval_set_seq(sub, cur_seq);
	if (range->event == UMN_NOTIFY_UNMAP) {
		ev_start = range->start;
		ev_end = range->end;
		ev_n = ev_n + 1;
	}
	return true;
}

static const struct umn_interval_notifier_ops ops = { .invalidate = record };

int main(void)
{
	struct umn_interval_notifier sub = { 0 };
	struct umn_mm *mm = umn_mm_self();
	long pg = sysconf(_SC_PAGESIZE);
	char *q;

	if (!mm) {
		printf("# skip: no event source here (%d)\n", errno);
		return T_SKIP;
	}
	q = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(q != MAP_FAILED);
	CHECK_EQ(umn_interval_notifier_insert(&sub, mm, (unsigned long)q,
					      4 * pg, &ops), 0);
	(void)umn_interval_read_begin(&sub);
	ev_n = 0;
	CHECK(mremap(q, 4 * pg, pg + 100, 0) == q);	/* keeps 2 pages */
	if (ev_n != 1 || ev_start != (unsigned long)q + 2 * pg ||
	    ev_end != (unsigned long)q + 4 * pg)
		fprintf(stderr, "events %d, last UNMAP [%#lx, %#lx), want "
			"[%#lx, %#lx)\n", ev_n, ev_start, ev_end,
			(unsigned long)q + 2 * pg, (unsigned long)q + 4 * pg);
	CHECK_EQ(ev_n, 1);
	CHECK_EQ(ev_start, (unsigned long)q + 2 * pg);
	CHECK_EQ(ev_end, (unsigned long)q + 4 * pg);
	CHECK_EQ(umn_interval_notifier_remove(&sub), 0);
	CHECK_EQ(munmap(q, 2 * pg), 0);
	printf("ok - mremap shrink to an unaligned length\n");
	return 0;
}
