/* SPDX-License-Identifier: MIT */
/*
 * Internal: reports (all builds) and the debug checks (UMN_LIB_DEBUG builds).
 *
 * Per-thread state (every build): how deep this thread is in umn callbacks,
 * how many of those belong to non-blockable ranges, and whether it runs
 * umn's internals inside a hook.  The "invalidate lock map"
 * (kernel: __mmu_notifier_invalidate_range_start_map) is a fake lock held
 * around callbacks and taken briefly by everything that waits for
 * invalidations; under ThreadSanitizer it is annotated as a reader-writer
 * mutex taken in *read* mode only, so TSan's deadlock detector sees the lock
 * order but no happens-before edge is invented between callbacks.
 */
#ifndef UMN_SRC_DEBUG_H
#define UMN_SRC_DEBUG_H

#include <stdbool.h>

#ifndef UMN_LIB_DEBUG
#define UMN_LIB_DEBUG 0
#endif

#if defined(__SANITIZE_THREAD__)
#define UMN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UMN_TSAN 1
#endif
#endif
#ifndef UMN_TSAN
#define UMN_TSAN 0
#endif

/* Report misuse through the warn handler (every build). */
void umnp_warn(const char *func, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Per-thread state, every build (initial-exec TLS: touched inside hooks,
 * free() and signal handlers, where a first dynamic-TLS access could
 * allocate).
 *
 *   callback_depth  user callbacks this thread is inside (nesting: a
 *                   callback's munmap starts a nested invalidation)
 *   nonblock_depth  how many of those belong to non-blockable ranges
 *   internal        1 while the thread runs umn's own code inside an event
 *                   source hook: hooked calls made there (umn's free(),
 *                   liburcu's mmap) pass straight to the kernel.  0 in user
 *                   callbacks, whose calls are hooked (nested invalidations)
 *   internal_saved  `internal` at each callback entry, one bit per level
 *   crit            > 0 while the thread holds (or is taking or releasing)
 *                   one of umn's own locks: a signal handler umn wrapped
 *                   (src/self/signals.c) must not run here, it is deferred
 *   deferred        the signals deferred so: blocked in the interrupted
 *                   context and re-queued; unblocked when crit drops to 0
 */
struct umnp_thread {
	unsigned int callback_depth;
	unsigned int nonblock_depth;
	unsigned int internal;
	unsigned int crit;
	unsigned long internal_saved;
	unsigned long deferred;
};

extern __thread struct umnp_thread umnp_thr
	__attribute__((tls_model("initial-exec")));

/* Unblock the deferred signals: each is delivered now, its handler runs. */
void umnp_crit_release(void);

/* Around umn's own critical sections (all builds: a TLS update). */
static inline void umnp_crit_enter(void)
{
	umnp_thr.crit++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void umnp_crit_exit(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (--umnp_thr.crit == 0 &&
	    __builtin_expect(umnp_thr.deferred != 0, 0))
		umnp_crit_release();
}

/*
 * White-box test point (umn__test_signal_in_lock): a signal number to send
 * to the thread that next takes a subscriptions lock, while it holds it.
 */
extern int umnp_test_sig_in_lock;
void umnp_test_fire(void);

/* Around every user callback (all builds: a TLS update, no call). */
static inline void umnp_dbg_callback_enter(bool blockable)
{
	umnp_thr.internal_saved = umnp_thr.internal_saved << 1 |
				  (umnp_thr.internal & 1);
	umnp_thr.internal = 0;
	umnp_thr.callback_depth++;
	if (!blockable)
		umnp_thr.nonblock_depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void umnp_dbg_callback_exit(bool blockable)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (!blockable)
		umnp_thr.nonblock_depth--;
	umnp_thr.callback_depth--;
	umnp_thr.internal = umnp_thr.internal_saved & 1;
	umnp_thr.internal_saved >>= 1;
}

/*
 * Every build: true (and reported) if called from inside a callback.  The
 * callers wait for callbacks or take the mmap write lock, which would
 * deadlock there: they return -EDEADLK instead.
 */
bool umnp_dbg_in_callback_slow(const char *func);
static inline bool umnp_dbg_in_callback(const char *func)
{
	if (__builtin_expect(umnp_thr.callback_depth == 0, 1))
		return false;
	return umnp_dbg_in_callback_slow(func);
}

#if UMN_LIB_DEBUG
/* Returns true (and reports) if the caller may not block here. */
bool umnp_dbg_might_sleep(const char *func);
void umnp_lockmap_acquire(void);
void umnp_lockmap_release(void);
#else
static inline bool umnp_dbg_might_sleep(const char *func) { (void)func; return false; }
static inline void umnp_lockmap_acquire(void) {}
static inline void umnp_lockmap_release(void) {}
#endif

/*
 * Debug-yield builds (CMake -DUMN_DEBUG_YIELD=ON): umnp_yield() at every
 * step of the protocol randomly yields the CPU or sleeps a few
 * microseconds, to widen race windows for the stress and torture tests.
 * The rate is UMN_YIELD_RATE (a percentage, default 10; 0 disables).
 * Compiles to nothing otherwise.
 */
#ifndef UMN_DEBUG_YIELD
#define UMN_DEBUG_YIELD 0
#endif
#if UMN_DEBUG_YIELD
void umnp_yield(void);
#else
static inline void umnp_yield(void) {}
#endif

/* The lock map taken and released at once: "I may wait for callbacks". */
static inline void umnp_lockmap_touch(void)
{
	umnp_lockmap_acquire();
	umnp_lockmap_release();
}

#endif /* UMN_SRC_DEBUG_H */
