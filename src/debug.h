/* SPDX-License-Identifier: MIT */
/*
 * Internal: reports (all builds) and the debug checks (UMN_LIB_DEBUG builds).
 *
 * Per-thread debug state: how deep this thread is in umn callbacks, and how
 * many of those belong to non-blockable ranges.  The "invalidate lock map"
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

#if UMN_LIB_DEBUG
void umnp_dbg_callback_enter(bool blockable);
void umnp_dbg_callback_exit(bool blockable);
/* Returns true (and reports) if the caller may not block here. */
bool umnp_dbg_might_sleep(const char *func);
/* Returns true (and reports) if called from inside a callback. */
bool umnp_dbg_in_callback(const char *func);
void umnp_lockmap_acquire(void);
void umnp_lockmap_release(void);
#else
static inline void umnp_dbg_callback_enter(bool blockable) { (void)blockable; }
static inline void umnp_dbg_callback_exit(bool blockable) { (void)blockable; }
static inline bool umnp_dbg_might_sleep(const char *func) { (void)func; return false; }
static inline bool umnp_dbg_in_callback(const char *func) { (void)func; return false; }
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
