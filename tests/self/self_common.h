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

#endif
