/* SPDX-License-Identifier: MIT */
/*
 * Internal: every allocation libumn makes goes through these.  In normal
 * builds they are the libc calls, inline.  In a -DUMN_FAULT_INJECT=ON build
 * (tests only) a test may make the N-th allocation fail, SQLite-style, with
 * umn__fault_alloc_fail_at() (see below), to check that every API returns
 * its documented -ENOMEM / NULL+ENOMEM, leaves its state intact and leaks
 * nothing.  The same for the raw system calls of the self sources
 * (umnp_fault_syscall()).
 */
#ifndef UMN_SRC_ALLOC_H
#define UMN_SRC_ALLOC_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#ifndef UMN_FAULT_INJECT
#define UMN_FAULT_INJECT 0
#endif

#if UMN_FAULT_INJECT
/* True if this allocation is the one to fail (counts every call). */
bool umnp_fault_alloc(void);
/*
 * Exported (umn_* in libumn.map) in fault-injection builds only:
 * umn__fault_alloc_fail_at(n) resets the count and makes the n-th
 * allocation from now fail, once (0: none fails);
 * umn__fault_alloc_count() is the number of allocations since then.
 */
void umn__fault_alloc_fail_at(unsigned long n);
unsigned long umn__fault_alloc_count(void);
/*
 * Failing system calls: 0, or the -errno that umn's raw system call nr
 * (src/self, umnp_self_raw6) returns instead of being made.  Exported in
 * fault-injection builds only: umn__fault_syscall_fail(nr, err, skip)
 * lets the next skip raw calls with number nr through, then makes every
 * later one fail with -err until umn__fault_syscall_fail(-1, 0, 0);
 * umn__fault_syscall_count() is the number of calls failed since.
 * Async-signal-safe (atomics only).
 */
long umnp_fault_syscall(long nr);
void umn__fault_syscall_fail(long nr, int err, unsigned long skip);
unsigned long umn__fault_syscall_count(void);
#else
static inline bool umnp_fault_alloc(void) { return false; }
static inline long umnp_fault_syscall(long nr)
{
	(void)nr;
	return 0;
}
#endif

static inline void *umnp_malloc(size_t n)
{
	if (umnp_fault_alloc()) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(n);
}

static inline void *umnp_calloc(size_t n, size_t size)
{
	if (umnp_fault_alloc()) {
		errno = ENOMEM;
		return NULL;
	}
	return calloc(n, size);
}

static inline void *umnp_realloc(void *p, size_t n)
{
	if (umnp_fault_alloc()) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n);
}

static inline int umnp_posix_memalign(void **p, size_t align, size_t n)
{
	if (umnp_fault_alloc())
		return ENOMEM;
	return posix_memalign(p, align, n);
}

static inline void umnp_free(void *p)
{
	free(p);
}

#endif /* UMN_SRC_ALLOC_H */
