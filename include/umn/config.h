/* SPDX-License-Identifier: MIT */
/*
 * umn build-time configuration seen by users of the headers.
 *
 * UMN_CONFIG_NOTIFIER (default 1): the analogue of the kernel's
 * CONFIG_MMU_NOTIFIER.  Define it to 0 before including <umn/umn.h> and the
 * primary-MMU side of the API (range init, invalidate_range_start/end, the
 * young/change_pte hooks, umn_mm_has_notifiers) becomes inline no-ops: a
 * range is just start/end, every range is blockable, nobody is subscribed.
 * A primary MMU built that way needs neither libumn nor liburcu.
 *
 * UMN_DEBUG (default 0 for users): define it to 1 in a primary MMU to have
 * the inline hooks run the debug checks (might_sleep and the invalidate
 * lock map) even when no one has subscribed.  The library itself is built
 * with or without its debug checks (CMake option UMN_DEBUG); a release
 * library ignores the debug entry points.
 */
#ifndef UMN_CONFIG_H
#define UMN_CONFIG_H

#ifndef UMN_CONFIG_NOTIFIER
#define UMN_CONFIG_NOTIFIER 1
#endif

#ifndef UMN_DEBUG
#define UMN_DEBUG 0
#endif

#define UMN_VERSION_MAJOR 0
#define UMN_VERSION_MINOR 1
#define UMN_VERSION_PATCH 0

#if defined(__cplusplus)
#define UMN_EXTERN_C_BEGIN extern "C" {
#define UMN_EXTERN_C_END }
#else
#define UMN_EXTERN_C_BEGIN
#define UMN_EXTERN_C_END
#endif

/*
 * umn_container_of - the structure that embeds member at ptr (kernel:
 * container_of): a callback gets its struct umn_interval_notifier * or
 * struct umn_notifier * and finds the object it is part of with
 *	struct my_mirror *m = umn_container_of(sub, struct my_mirror, sub);
 * ptr must point to a member of that type (checked at compile time).
 */
#define umn_container_of(ptr, type, member)                                  \
	(__extension__({                                                     \
		const __typeof__(((type *)0)->member) *umn__mptr = (ptr);    \
		(type *)(void *)((char *)umn__mptr -                         \
				 __builtin_offsetof(type, member));          \
	}))

#endif /* UMN_CONFIG_H */
