/* SPDX-License-Identifier: MIT */
/*
 * Internal to the real-process event sources (src/self/).  Cross-file
 * functions use the umnp_self_ prefix and stay local to libumn.
 *
 * Files, one responsibility each:
 *   self.c       umn_mm_self(), umn_self_init(), the explicit source, fork
 *   hooks.c      what each hooked call means: ranges, events, start/end
 *                around the real call, the re-entrancy guard
 *   patch.c      the patching engine (x86-64): syscall-site jumps, stubs,
 *                atomic code writes, chaining to an existing patch
 *   interpose.c  the same calls as exported symbols (LD_PRELOAD / link order)
 *   uffd.c       userfaultfd events (opt-in per range, after the fact)
 *   signals.c    wrapping the application's signal handlers (lazy masking)
 *   selftest.c   the coverage self-test
 *   malloc_check.c  debug builds: malloc from a callback of a hooked call
 */
#ifndef UMN_SRC_SELF_INTERNAL_H
#define UMN_SRC_SELF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <umn/self.h>

/* Thread-locals touched by hooks must never allocate (no __tls_get_addr). */
#define UMNP_SELF_TLS __thread __attribute__((tls_model("initial-exec")))

#define UMNP_SELF_PAGE 4096ul

/* ---- raw system calls (no libc wrapper: not hooked, no errno) ---------- */

static inline long umnp_self_raw6(long nr, long a1, long a2, long a3, long a4,
				  long a5, long a6)
{
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10),
			   "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long umnp_self_raw3(long nr, long a1, long a2, long a3)
{
	return umnp_self_raw6(nr, a1, a2, a3, 0, 0, 0);
}

/* A kernel-style result (-4095..-1 is -errno) as a libc-style one. */
static inline bool umnp_self_is_err(long ret)
{
	return (unsigned long)ret > -4096ul;
}

/* ---- the self address space (self.c) ----------------------------------- */

/* The current umn_mm_self() (NULL before init); replaced in a fork child. */
extern struct umn_mm *umnp_self_mm;
/* UMN_SELF_NOSIGMASK=1 was set: hooks do not block signals (self.c). */
extern bool umnp_self_nosigmask;
/* The active UMN_SELF_* sources. */
extern unsigned int umnp_self_active;

/* ---- hooks.c ------------------------------------------------------------ */

/*
 * How the real call is made.  NULL: an inline raw system call.  Otherwise a
 * function returning the kernel-style result (chaining to another patcher's
 * hook, or libc's brk bookkeeping).
 */
typedef long (*umnp_self_real_fn)(const long a[6], void *ctx);

/*
 * umnp_self_call - bracket system call nr with args a[0..5] by the
 * invalidations it implies, reported with origin.  Returns the kernel-style
 * result (negative errno on failure).  Never allocates; callable from a
 * signal handler and from inside free().
 */
long umnp_self_call(unsigned int origin, long nr, const long a[6],
		    umnp_self_real_fn real, void *ctx);

/* The re-entrancy guard (thread-local depth of hooks on this thread). */
bool umnp_self_in_hook(void);
void umnp_self_guard_enter(void);
void umnp_self_guard_exit(void);

/* Is nr a call some hook turns into an invalidation? */
bool umnp_self_nr_interesting(long nr);

/* ---- signals.c ---------------------------------------------------------- */

/* Handlers are wrapped: hooks need not block signals (signals.c). */
extern bool umnp_self_lazy_signals;
/* Wrap the installed handlers and turn lazy masking on; -errno if it
 * cannot be (the sigaction site is not patched, UMN_SELF_SIGMASK=1). */
int umnp_self_signals_init(void);
/* libc's rt_sigaction, entered through the patched site. */
long umnp_self_sigaction(const long a[6]);

/* ---- patch.c ------------------------------------------------------------ */

/* Patch libc.  Returns 0 when every required entry is hooked, else -errno
 * (nothing is left half-patched for a function that failed). */
int umnp_self_patch_install(void);
/* Rows for diagnostics: how each libc function is hooked. */
const char *umnp_self_patch_describe(const char *func);

/* ---- interpose.c -------------------------------------------------------- */

/* Resolve libc's own entry points (at init, never from a hook). */
int umnp_self_interpose_init(void);
/* Does symbol lookup reach our definitions (the library sits before libc)? */
bool umnp_self_interpose_effective(void);

/* ---- uffd.c ------------------------------------------------------------- */

void umnp_self_uffd_atfork_child(void);

/* ---- malloc_check.c ----------------------------------------------------- */

void umnp_self_malloc_check(const char *func);

#endif /* UMN_SRC_SELF_INTERNAL_H */
