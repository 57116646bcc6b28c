/* SPDX-License-Identifier: MIT */
/*
 * The real process: umn_mm_self() is this process's own address space.  The
 * primary MMU is the kernel, so umn learns of changes through event sources
 * and brackets each change with start/end itself:
 *
 *   patch      libc's munmap, mremap, madvise, process_madvise, mmap
 *              (MAP_FIXED), brk/sbrk, shmat (SHM_REMAP), shmdt, mprotect and
 *              syscall() are entered through a jump umn writes over their
 *              first bytes, so glibc's internal calls (free() of a large
 *              block, realloc, heap trim) are seen.  Start runs before the
 *              real call, end after it (also when it fails).
 *   interpose  the same calls through symbol interposition, where patching
 *              is refused; misses glibc's internal calls.  libumn.so exports
 *              those libc names (glibc's version names) for this; until
 *              this source is chosen they only forward to libc.
 *   uffd       userfaultfd events for ranges registered explicitly; they
 *              arrive after the change (range flag UMN_NOTIFIER_RANGE_AFTER).
 *   explicit   umn_self_invalidate_start/end for memory the program manages.
 *
 * Ranges from the sources are non-blockable and deferrable
 * (UMN_NOTIFIER_RANGE_DEFERRABLE): hooks may run inside free() holding
 * glibc's arena lock, in signal handlers, or on a thread that holds the
 * subscriber's own lock.  range.origin names the source.
 *
 * Signals: umn wraps the application's signal handlers (libc's sigaction
 * is patched; handlers installed before init are wrapped; sigaction
 * queries return the application's action).  A handler runs at once,
 * unless its thread is inside one of umn's own locks: then it runs as soon
 * as the lock is dropped, still before the hooked call returns, and an
 * unmap it makes is reported (a nested invalidation).  No signal is blocked
 * around hooked calls, so SIGTERM and SIGINT with their default action
 * stop the process whatever a callback does.  Not wrapped: handlers
 * installed with a raw rt_sigaction system call (they must not unmap
 * memory), and the synchronous signals (SEGV, BUS, ...).  Where handlers
 * cannot be wrapped (interposition, ThreadSanitizer builds) or with
 * UMN_SELF_SIGMASK=1, a hooked call with subscribers blocks asynchronous
 * signals instead (one rt_sigprocmask pair), but only those that have a
 * handler (known from the patched sigaction; under interposition and
 * ThreadSanitizer, all but SIGINT and SIGTERM while their action is the
 * default one), so a callback
 * stuck there still dies of SIGTERM and SIGINT.  UMN_SELF_NOSIGMASK=1
 * promises that no handler
 * unmaps or remaps memory: neither wrapping nor masking; if the promise is
 * broken, such an unmap in a handler that interrupts a hook goes
 * unreported or deadlocks.
 *
 * Nested invalidations: an unmap, remap, discard or protection change a
 * callback makes (directly or through free() of a large block) is reported
 * like any other, before the call returns: to every other subscriber, and
 * to the callback's own subscription as a non-blockable deferrable range.
 * Only umn's own internal calls inside a hook (its allocations, liburcu)
 * pass through unreported.
 *
 * Callbacks run inside libc calls that glibc declares __THROW, i.e. with
 * GCC's "leaf" attribute (the call never re-enters the caller's translation
 * unit).  State a callback writes and the same file reads back right after
 * such a call (munmap, free, ...) must be atomic or volatile, or the
 * compiler may keep a stale copy across the call at -O2.
 *
 * fork: the child starts with a fresh umn_mm_self() with no subscriptions
 * (a different pointer from the parent's), and no lock held at fork time
 * can hang it.  userfaultfd registrations are not inherited.
 *
 * Site discovery (part of patch): every loaded object's inline
 * `mov $NR,%eax; syscall` sites with a map-changing NR (the Go runtime,
 * static runtimes, libraries loaded later with dlopen) are found by
 * decoding its functions and patched the same way; their hooks run on a
 * stack of umn's own.  A static program (libumn.a with a static glibc) is
 * covered the same way; umn_mm_self() fails with ENOTSUP if no munmap
 * site can be found in it.
 *
 * Environment: UMN_SOURCES=patch|interpose|patch,interpose chooses the
 * sources of the implicit init; UMN_SELF_DEBUG=1 prints how each libc
 * function was hooked and, per object, the sites discovery patched and
 * those it could not; UMN_SELF_SUD=1 arms the safety net where the patch
 * source is installed over a shared libc (Syscall User Dispatch: system
 * calls from outside libc trap to a SIGSYS handler that reports the
 * map-changing ones; every such call then costs a signal);
 * UMN_SELF_CACHE=0 decodes every loaded object at start instead of reusing
 * discovery's results kept in $XDG_CACHE_HOME/umn (else ~/.cache/umn; never
 * in a set-user-ID or set-group-ID program).  With the safety net on,
 * threads made by pthread_create (libumn.so exports it) and by a raw clone,
 * clone3, fork or vfork start armed; a thread made by libc's clone() is
 * armed at its first hooked call.  See doc/sources.md for coverage and
 * costs.  README.md lists every variable.
 */
#ifndef UMN_SELF_H
#define UMN_SELF_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <umn/config.h>
#include <umn/mm.h>
#include <umn/notifier.h>

UMN_EXTERN_C_BEGIN

/* umn_self_init flags: which sources to try (0 = the default set). */
#define UMN_SELF_PATCH     0x1u
#define UMN_SELF_INTERPOSE 0x2u

/*
 * umn_self_init - install the event sources (idempotent).  Called implicitly
 * by the first umn_mm_self() with flags 0 (patch, falling back to
 * interpose; or as set by the UMN_SOURCES environment variable).
 * Context: blockable, thread-safe.
 * Returns 0, or a negative errno: -EINVAL unknown flags, -ENOTSUP no source
 * could be installed (the first call returns the reason when it has one:
 * -EPERM if patching was asked for alone and libc's text could not be made
 * writable, as under SELinux execmem), -ENOMEM (first call) no memory for
 * the address space (the sources stay installed and later calls return 0,
 * but umn_mm_self() fails), -EALREADY installed with other flags.  With
 * flags 0, a refused patch falls back to interposition
 * (UMN_SELF_DEBUG=1 says so).
 */
int umn_self_init(unsigned int flags);

/*
 * umn_mm_self - this process's address space (never torn down; users and
 * count stay >= 1).  Installs the sources on first call (umn_self_init(0),
 * unless umn_self_init() was called before).  Installing the patch source
 * reads the site cache and writes an entry for each object it had to
 * decode (files under $XDG_CACHE_HOME/umn or ~/.cache/umn, the directories
 * made 0700 if missing; UMN_SELF_CACHE=0 turns this off), as does the
 * rescan after a dlopen.
 * Context: blockable the first time (it installs); afterwards lock-free,
 * callable from anywhere, a callback included.
 * Returns NULL with errno set if the installation failed: ENOTSUP (no
 * source could be installed), EPERM (patching alone was asked for and
 * libc's text could not be made writable), ENOMEM (no memory for the
 * address space).  The failure is final: the sources are installed once
 * per process, so every later call returns NULL with the same errno (that
 * of the first failure, also after umn_self_init() has been called again).
 * A fork child gets NULL with ENOMEM if its address space could not be
 * prepared before the fork.
 */
struct umn_mm *umn_mm_self(void);

/* umn_self_sources - the UMN_SELF_* sources currently active (0 if none). */
unsigned int umn_self_sources(void);

/*
 * The explicit source: bracket a change of [start, start + len) that the
 * program makes itself (a custom allocator's munmap through a raw system
 * call, a device driver's own mapping).  range is filled in by start and
 * must be passed to end.  Deferrable semantics as for the other sources.
 * Returns 0, -EINVAL for a bad event or an empty/overflowing range.
 */
int umn_self_invalidate_start(struct umn_notifier_range *range,
			      enum umn_notifier_event event,
			      unsigned long start, unsigned long len);
void umn_self_invalidate_end(struct umn_notifier_range *range);

/*
 * userfaultfd source (opt-in, per range): ask the kernel for UNMAP, REMOVE
 * and REMAP events of [addr, addr + len).  Events are delivered by a umn
 * thread after the change, with UMN_NOTIFIER_RANGE_AFTER set.
 * Returns 0; -ENOSYS/-EPERM if userfaultfd is unavailable here (remembered:
 * every later call returns it too); -EMFILE/-ENFILE/-ENOMEM if no
 * descriptor could be had now (not remembered: the next call tries again);
 * -EINVAL for a bad range; the errno umn_mm_self() failed with, negated
 * (-EPERM, -ENOTSUP, -ENOMEM), if the process's address space could not be
 * set up: its events would reach nobody.
 */
int umn_self_uffd_register(void *addr, size_t len);
int umn_self_uffd_unregister(void *addr, size_t len);

/* One row of the coverage self-test. */
struct umn_self_coverage {
	const char *call;     /* "munmap", "free(large)", "syscall(SYS_munmap)", ... */
	unsigned int origin;  /* enum umn_notifier_origin that reported it */
	bool covered;         /* the event arrived before the call returned */
	int error;            /* 0, or -errno: the call could not be made here
				 (row not run; covered is false) */
};

/*
 * umn_self_selftest - fire each covered call once on scratch memory and
 * check its invalidation arrived (like UCX's start-up check).  Fills up to n
 * rows of out.  Returns the number of rows, or a negative errno.
 * The rows: munmap, mremap, madvise(DONTNEED), mmap(MAP_FIXED), mprotect,
 * sbrk(shrink), shmdt, shmat(SHM_REMAP), free(large), realloc(large),
 * malloc_trim, syscall(SYS_munmap), process_madvise.  The sbrk row grows the
 * heap by a page and shrinks it back: like UCX's check, do not run it while
 * another thread may be growing the heap with sbrk.
 * Context: blockable; must not be called from a callback.
 */
int umn_self_selftest(struct umn_self_coverage *out, size_t n);

/*
 * Private, for umn's own tests: the next thread that takes a subscriptions
 * lock sends itself sig (tgkill) while holding it, once.
 */
void umn__test_signal_in_lock(int sig);

/*
 * Private, for umn's own tests: how many map-changing system calls the
 * safety net (UMN_SELF_SUD=1) trapped at the `syscall` instruction at insn
 * (at any site if insn is NULL).
 */
unsigned long umn__test_sud_traps(const void *insn);

/*
 * Private, for umn's own tests: of the threads that were running when the
 * safety net was armed (other than the arming one), how many a signal
 * armed and how many it could not (blocking SIGSYS, stopped, no answer).
 */
void umn__test_sud_running(unsigned int *armed, unsigned int *not_armed);

/*
 * Private, for umn's own tests: how many arming requests the last arming
 * of the safety net sent; and, if n is not 0, at most n threads per block
 * of its thread table from the next arming on (a test fills a block with
 * a few threads).
 */
unsigned int umn__test_sud_sent(void);
void umn__test_sud_arm_slots(unsigned int n);

/*
 * Private, for umn's own tests: fn(0) is called by the thread arming the
 * safety net before it waits for the pthread_create calls in flight and
 * lists the running threads, fn(1) after it has armed them (the net's
 * flag is on at both); fn(2) by a pthread_create of umn's that read the
 * flag off, before it calls libc's (a creator in flight); fn(3) by the
 * arming thread each time it starts awaiting the answers of a pass.
 */
void umn__test_sud_arm_hook(void (*fn)(int where));

/*
 * Private, for libumn-trace.so (and libumn.so's own pthread_create): libc's
 * pthread_create; with the safety net on (UMN_SELF_SUD=1) the new thread
 * arms it before start runs.  Returns pthread_create's result (0 or an
 * error number, errno as libc left it), EAGAIN if a small block for the
 * start cannot be allocated or libc's pthread_create is not found.  May
 * block as pthread_create does; no lock of umn's.
 */
int umn__self_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			     void *(*start)(void *), void *arg);

/*
 * Private, for libumn-trace.so (and libumn.so's own clone): libc's clone()
 * wrapper (clone(2)); with the safety net on (UMN_SELF_SUD=1) the child
 * arms it before fn runs, from a block written at the top of the child's
 * stack (fn and arg: 16 bytes, 16-byte aligned).  Returns what libc's
 * clone returns (the child's tid, or -1 with errno); -1 with ENOSYS if
 * libc's clone is not found (a static program).  No lock of umn's; may be
 * called where malloc may not.
 */
int umn__self_clone(int (*fn)(void *), void *stack, int flags, void *arg,
		    pid_t *ptid, void *tls, pid_t *ctid);

/*
 * Private, for umn's own tests: how many times a thread that reached a
 * site being patched (its first byte an int3) was sent back to it.
 */
unsigned long umn__test_int3_retries(void);

UMN_EXTERN_C_END

#endif /* UMN_SELF_H */
