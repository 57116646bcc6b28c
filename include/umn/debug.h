/* SPDX-License-Identifier: MIT */
/*
 * Reports and debug checks (kernel: WARN, lockdep's fake invalidate lock,
 * might_sleep).
 *
 * Misuse that the kernel WARNs or BUGs on (unbalanced start/end, double
 * insert, remove of something never inserted, ...) is detected in every
 * build: the call returns its errno or is ignored, state stays intact, and a
 * report goes to the warn handler.
 *
 * The debug checks exist only in a library built with UMN_DEBUG (CMake
 * option, on for Debug builds); in a release library they compile to
 * nothing and the functions below that run them do nothing:
 *  - might_sleep: a blocking call (register, insert, remove, read_begin that
 *    would wait, unregister, synchronize, the mmap lock) made from a
 *    callback of a non-blockable range is reported.
 *  - the invalidate lock map: a call that waits for invalidations
 *    (read_begin, remove, unregister) made from inside a callback is
 *    reported.  Under ThreadSanitizer (a TSan build of libumn) the map is
 *    also a mutex annotated for TSan, held around every callback and taken
 *    briefly by read_begin, remove and every start: TSan's deadlock detector
 *    then reports a user lock taken in a callback and also held around one
 *    of those calls (a lock-order inversion), like lockdep.
 */
#ifndef UMN_DEBUG_H
#define UMN_DEBUG_H

#include <stdbool.h>
#include <umn/config.h>

UMN_EXTERN_C_BEGIN

/*
 * A report: the API function that detected it and a one-line message.
 * Called on the thread that misused the API, with no umn lock held.
 */
typedef void (*umn_warn_fn)(const char *func, const char *msg, void *arg);

/*
 * umn_set_warn_handler - route reports to fn (NULL: the default, which
 * prints "umn: WARNING: func: msg" to stderr).  Not thread-safe against
 * concurrent reports; set it at start-up.
 */
void umn_set_warn_handler(umn_warn_fn fn, void *arg);

/* umn_warn_count - reports made so far in this process (all builds). */
unsigned long umn_warn_count(void);

/* umn_debug_enabled - true if libumn was built with its debug checks. */
bool umn_debug_enabled(void);

/* umn_in_callback - this thread is inside a umn notifier callback (every
 * build: a thread-local depth). */
bool umn_in_callback(void);

/* umn_in_nonblock - inside a callback of a non-blockable range (every
 * build). */
bool umn_in_nonblock(void);

/*
 * umn_might_sleep - report if the calling thread is in a non-blockable
 * callback.  For code of yours that blocks and may run in callbacks.
 * No-op in release builds.
 */
void umn_might_sleep(void);

/*
 * umn_might_invalidate - declare that the caller is about to do something
 * that can trigger an invalidation (munmap, free of a large block, ...):
 * under TSan the invalidate lock map is taken and released, so holding a lock
 * that a callback also takes is reported.  Allowed inside a callback (a
 * nested invalidation).  No-op in release builds.
 */
void umn_might_invalidate(void);

UMN_EXTERN_C_END

#endif /* UMN_DEBUG_H */
