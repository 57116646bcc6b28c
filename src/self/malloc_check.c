/* SPDX-License-Identifier: MIT */
/*
 * Debug builds: report a notifier callback that allocates while an event
 * source delivers an invalidation.  Such a callback may be running inside
 * free() or malloc_trim() with glibc's arena lock held (heap trim, an
 * arena's madvise), or in a signal handler: malloc there can deadlock or
 * corrupt the heap.  libumn (debug) defines malloc, calloc and realloc; they
 * check, then call glibc's __libc_* entry points.  Under a sanitizer its
 * allocator comes first in symbol lookup and this check is not reached.
 *
 * The three are weak: a static program links glibc's own (libc.a's
 * malloc.o defines them too), and has no check.
 *
 * Only allocations from callbacks of *hooked* calls are reported: a
 * callback of a primary MMU's own invalidation (a model, a VMM) runs in a
 * context its primary chose.
 */
#include <stddef.h>
#include <stdlib.h>
#include <umn/debug.h>
#include "../debug.h"
#include "self_internal.h"

static UMNP_SELF_TLS int reporting;

void umnp_self_malloc_check(const char *func)
{
	if (!umnp_self_in_hook() || reporting || !umn_in_callback())
		return;
	reporting = 1;
	umnp_warn(func, "allocation from a notifier callback of a hooked "
		  "call (may run inside free() holding the arena lock, or in "
		  "a signal handler): deadlock risk");
	reporting = 0;
}

#if UMN_LIB_DEBUG && defined(__GLIBC__)

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);

__attribute__((weak)) void *malloc(size_t size)
{
	umnp_self_malloc_check("malloc");
	return __libc_malloc(size);
}

__attribute__((weak)) void *calloc(size_t n, size_t size)
{
	umnp_self_malloc_check("calloc");
	return __libc_calloc(n, size);
}

__attribute__((weak)) void *realloc(void *p, size_t size)
{
	umnp_self_malloc_check("realloc");
	return __libc_realloc(p, size);
}

#endif
