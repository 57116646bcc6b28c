/* SPDX-License-Identifier: MIT */
/*
 * Debug builds: a notifier callback that calls malloc while a hooked call
 * delivers its invalidation is reported through the warn handler; the same
 * allocation outside a callback is not.  Skipped for a release library or
 * when a sanitizer owns malloc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <umn/debug.h>
#include <umn/notifier.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

static unsigned long lo, hi;
static int warned;

static void on_warn(const char *func, const char *msg, void *arg)
{
	(void)arg;
	(void)msg;
	if (strcmp(func, "malloc") == 0)
		warned++;
}

static int alloc_start(struct umn_notifier *sub,
		       const struct umn_notifier_range *r)
{
	(void)sub;
	if (r->start < hi && r->end > lo) {
		void *volatile p = malloc(32); /* the bug being detected */

		free(p);
	}
	return 0;
}

static const struct umn_notifier_ops ops = { .invalidate_range_start = alloc_start };

int main(void)
{
	struct umn_notifier sub = { .ops = &ops };
	struct umn_mm *mm = umn_mm_self();
	void *volatile q;
	char *p;

	CHECK(mm != NULL);
	if (!umn_debug_enabled() || SELF_SANITIZER || !umn_self_sources()) {
		printf("# skip: needs a debug libumn, glibc's malloc and a source\n");
		return T_SKIP;
	}
	umn_set_warn_handler(on_warn, NULL);
	CHECK_EQ(umn_notifier_register(&sub, mm), 0);

	q = malloc(64); /* outside a callback: fine */
	free(q);
	CHECK_EQ(warned, 0);

	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	lo = (unsigned long)p;
	hi = lo + 4096;
	CHECK_EQ(munmap(p, 4096), 0);
	CHECK_EQ(warned, 1);

	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	umn_set_warn_handler(NULL, NULL);
	printf("ok - malloc_check\n");
	return 0;
}
