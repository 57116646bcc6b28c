/* SPDX-License-Identifier: MIT */
/*
 * Shared by the self tests: which calls a build can be expected to cover.
 * Sanitizer runtimes replace malloc (free/realloc/malloc_trim of glibc are
 * not on the path) and keep freed memory in quarantine.
 */
#ifndef UMN_TESTS_SELF_COMMON_H
#define UMN_TESTS_SELF_COMMON_H

#include <stdbool.h>
#include <string.h>
#include <umn/self.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SELF_SANITIZER 1
#else
#define SELF_SANITIZER 0
#endif

static inline bool self_malloc_is_glibc(void)
{
	return !SELF_SANITIZER;
}

/* Is call expected to be covered with sources (umn_self_sources())? */
static inline bool self_expect_covered(const char *call, unsigned int sources)
{
	bool internal = !strcmp(call, "free(large)") ||
			!strcmp(call, "realloc(large)") ||
			!strcmp(call, "malloc_trim");

	/* Interposition cannot see glibc's internal calls. */
	if (internal && !(sources & UMN_SELF_PATCH))
		return false;
	if (!self_malloc_is_glibc() &&
	    (!strcmp(call, "free(large)") || !strcmp(call, "realloc(large)") ||
	     !strcmp(call, "malloc_trim")))
		return false;
	return true;
}


/* ---- an event log fed by a classic subscription on umn_mm_self() ------- */
#ifdef SELF_LOG

#include <stdint.h>
#include <sys/mman.h>
#include <umn/interval.h>
#include <umn/notifier.h>

#define LOG_MAX 256

struct log_ev {
	unsigned long start, end;
	int event;
	unsigned int origin;
	unsigned int flags;
	int phase;   /* 0 start, 1 end */
	bool mapped; /* the first page of the range was still mapped at start */
};

/* Per thread: hooks deliver on the thread making the call. */
/*
 * Written by callbacks that run inside munmap/free/shmat/..., which glibc
 * declares __THROW, i.e. GCC's "leaf" attribute ("never calls back into
 * this file"): at -O2 the compiler may keep these in registers across the
 * hooked call: after log_reset() it would "know" the count is still 0.
 * The count is volatile; the entries were never read before the call.
 */
static __thread struct log_ev tlog[LOG_MAX];
static __thread volatile int tlog_n;

static bool page_mapped(unsigned long addr)
{
	unsigned char vec;

	return mincore((void *)(addr & ~4095ul), 4096, &vec) == 0;
}

static int log_start(struct umn_notifier *sub,
		     const struct umn_notifier_range *r)
{
	(void)sub;
	if (tlog_n < LOG_MAX)
		tlog[tlog_n++] = (struct log_ev){ r->start, r->end, r->event,
						  r->origin, r->flags, 0,
						  page_mapped(r->start) };
	return 0;
}

static void log_end(struct umn_notifier *sub,
		    const struct umn_notifier_range *r)
{
	(void)sub;
	if (tlog_n < LOG_MAX)
		tlog[tlog_n++] = (struct log_ev){ r->start, r->end, r->event,
						  r->origin, r->flags, 1, false };
}

static const struct umn_notifier_ops log_ops = {
	.invalidate_range_start = log_start,
	.invalidate_range_end = log_end,
};

static inline void log_reset(void)
{
	tlog_n = 0;
}

/* The start of an event of kind ev covering [s, e), seen with its end.
 * Returns the start record or NULL. */
static inline const struct log_ev *log_find(int ev, unsigned long s,
					    unsigned long e)
{
	for (int i = 0; i < tlog_n; i++) {
		if (tlog[i].phase || tlog[i].event != ev ||
		    tlog[i].start > s || tlog[i].end < e)
			continue;
		for (int j = i + 1; j < tlog_n; j++)
			if (tlog[j].phase == 1 && tlog[j].start == tlog[i].start &&
			    tlog[j].end == tlog[i].end && tlog[j].event == ev)
				return &tlog[i];
	}
	return NULL;
}

#endif /* SELF_LOG */

#endif /* UMN_TESTS_SELF_COMMON_H */
