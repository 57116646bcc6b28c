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
 *   discover.c   site discovery: inline system-call sites in every loaded
 *                object (decoder.h), rescanned after dlopen
 *   stack.c      the raw system call, and the entry of discovered sites on
 *                a stack of umn's own
 *   entry_asm.h  the assembly pieces patch.c's and stack.c's entries share
 *   sud.c        the opt-in safety net (Syscall User Dispatch)
 *   sud_clone.c  ... and new tasks made by a trapped clone/fork: armed
 *   sud_threads.c ... and the threads already running: armed by a signal
 *   sud_libc_clone.c ... and children of libc's clone(): armed before fn
 *   interpose.c  the same calls as exported symbols (LD_PRELOAD / link order)
 *   uffd.c       userfaultfd events (opt-in per range, after the fact)
 *   signals.c    wrapping the application's signal handlers (lazy masking)
 *   maps.c       /proc/self/maps line by line, signal-safe
 *   selftest.c   the coverage self-test
 *   malloc_check.c  debug builds: malloc from a callback of a hooked call
 */
#ifndef UMN_SRC_SELF_INTERNAL_H
#define UMN_SRC_SELF_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <umn/self.h>
#include "alloc.h"

/* Thread-locals touched by hooks must never allocate (no __tls_get_addr). */
#define UMNP_SELF_TLS __thread __attribute__((tls_model("initial-exec")))

#define UMNP_SELF_PAGE 4096ul

/* ---- raw system calls (no libc wrapper: not hooked, no errno) ---------- */

/*
 * One out-of-line system-call instruction (stack.c): the number arrives in a
 * register, so umn's own code holds no `mov $NR,%eax; syscall` site that
 * site discovery could take for the program's (in a static program umn's
 * code and the program's share one executable).
 */
long umnp_self_rawsys(long nr, long a1, long a2, long a3, long a4, long a5,
		      long a6);

/* umnp_fault_syscall(): 0 except in fault-injection builds (alloc.h). */
static inline long umnp_self_raw6(long nr, long a1, long a2, long a3, long a4,
				  long a5, long a6)
{
	long f = umnp_fault_syscall(nr);

	if (f)
		return f;
	return umnp_self_rawsys(nr, a1, a2, a3, a4, a5, a6);
}

static inline long umnp_self_raw3(long nr, long a1, long a2, long a3)
{
	return umnp_self_raw6(nr, a1, a2, a3, 0, 0, 0);
}

/* A kernel-style result (-4095..-1 is -errno) as a libc-style one. */
/* A switch in the environment (UMN_SELF_DEBUG, UMN_SELF_DISCOVER_*): on
 * when set to anything but "" or "0". */
static inline bool umnp_self_env_on(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

static inline bool umnp_self_is_err(long ret)
{
	return (unsigned long)ret > -4096ul;
}

/* Copy n bytes of this process's memory at src to dst through the kernel
 * (process_vm_readv), so that a bad pointer a caller passed is a failed
 * copy, not a fault here.  Signal-safe, raw system calls only.  True if
 * all n bytes were copied.  Addressed by this thread's id, not the
 * process's: after the main thread's pthread_exit the leader is a zombie
 * with no memory, and a read by its id fails. */
static inline bool umnp_self_copy_in(void *dst, const void *src, size_t n)
{
	struct iovec local = { dst, n }, remote = { (void *)src, n };

	return umnp_self_raw6(SYS_process_vm_readv,
			      umnp_self_raw3(SYS_gettid, 0, 0, 0),
			      (long)&local, 1, (long)&remote, 1, 0) == (long)n;
}

/* The kernel's struct sigaction (x86-64; rt_sigaction's sigsetsize is 8). */
struct umnp_ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

/* rt_sigaction as a raw system call (not libc's: not hooked, no errno). */
static inline long umnp_self_raw_sigaction(int sig,
					   const struct umnp_ksigaction *act,
					   struct umnp_ksigaction *old)
{
	return umnp_self_raw6(SYS_rt_sigaction, sig, (long)act, (long)old,
			      sizeof(act->mask), 0, 0);
}

/* ---- maps.c: /proc files, signal-safe ---------------------------------- */

/*
 * umnp_self_proc_lines - call cb for each line of the file at path,
 * [line, end) without its newline, until it returns true.  Raw system
 * calls, a 4 KiB buffer on the stack, no allocation: callable from a hook
 * or a signal handler.  A line longer than the buffer ends the walk (the
 * rest is not seen).  Returns 0, or -errno when the file could not be
 * opened (cb never called) or a read failed (cb saw the lines before).
 */
int umnp_self_proc_lines(const char *path,
			 bool (*cb)(const char *line, const char *end,
				    void *arg),
			 void *arg);

/* A status file's signal mask line ("SigCgt:", "SigBlk:", ...: key):
 * true and *mask if [line, end) is that line, with its 16 hex digits. */
bool umnp_self_status_mask(const char *line, const char *end,
			   const char *key, uint64_t *mask);

/* One line: [start, end), PROT_* bits, inode, and the path (path_len bytes,
 * not NUL-terminated; empty for an anonymous mapping). */
struct umnp_self_map {
	unsigned long start, end;
	int prot;
	unsigned long inode;
	const char *path;
	size_t path_len;
};

/*
 * umnp_self_maps_each - call cb for each line of /proc/self/maps, in
 * address order, until it returns true (umnp_self_proc_lines: the same
 * limits and returns).
 */
int umnp_self_maps_each(bool (*cb)(const struct umnp_self_map *m, void *arg),
			void *arg);

/* ---- the self address space (self.c) ----------------------------------- */

/* The current umn_mm_self() (NULL before init); replaced in a fork child. */
extern struct umn_mm *umnp_self_mm;
/* UMN_SELF_NOSIGMASK=1 was set: hooks do not block signals (self.c). */
extern bool umnp_self_nosigmask;
/* The active UMN_SELF_* sources. */
extern unsigned int umnp_self_active;

/* A fork child's umn state (no allocation, async-signal-safe): a fresh
 * umn_mm_self() prepared by the parent, no stack-pool slot held.  Run by
 * libc's fork (pthread_atfork) and by the safety net's emulated fork. */
void umnp_self_fork_child(void);

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
/* When known (libc's sigaction is patched): the signals that have a
 * handler, the only ones hooks that mask need to block. */
extern uint64_t umnp_self_caught;
extern bool umnp_self_caught_known;
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

/* Patch one discovered site (patch.c): the instruction at site, len bytes
 * (`mov $NR,%eax`, 5, or `mov $NR,%rax`, 7), is followed by `syscall`.
 * flags: UMNP_SITE_*.  Caller holds the discovery lock.  0 or -errno. */
#define UMNP_SITE_LOADER 0x1u /* the loader's mmap/mprotect: rescan after */
int umnp_self_patch_site(uint8_t *site, size_t len, unsigned int flags);
/* The same for a site in pages whose protection is prot (restored after;
 * left alone when it includes PROT_WRITE). */
int umnp_self_patch_site_prot(uint8_t *site, size_t len, unsigned int flags,
			      int prot);
/* End of a batch of patches: stub pages back to r-x (discovery lock held). */
void umnp_self_patch_seal(void);

/* ---- discover.c: system-call sites in every loaded object ------------- */

/* Find umn's own object (dladdr: call without the discovery lock). */
void umnp_self_discover_prepare(void);
/* Set up the decoder; scan every loaded object and patch its sites.
 * Normal context, at init, discovery lock held.  0 or -errno (-ENOTSUP: no
 * decoder). */
int umnp_self_discover_init(void);
/* Scan objects loaded since the last scan (called after a loader
 * mmap/mprotect; cheap when nothing was added). */
void umnp_self_discover_rescan(void);
/* Decode [func, func + size) from its first byte and store up to max
 * addresses of `mov $nr,%eax` / `mov $nr,%rax` instructions immediately
 * followed by `syscall` (nr < 0: `mov 0x8(%rsp),%r9`, syscall()'s shape)
 * in out, their lengths in lens.  Returns the count (0 if undecodable). */
int umnp_self_find_sites(const uint8_t *func, size_t size, long nr,
			 uint8_t **out, uint8_t *lens, int max);
/* The same from the site cache (sitecache.h) without decoding: the sites
 * recorded for the function at func and nr, each still holding the bytes
 * recorded.  0 if the cache has none (then call umnp_self_find_sites). */
int umnp_self_find_sites_cached(const uint8_t *func, long nr, uint8_t **out,
				uint8_t *lens, int max);
/* The discovery lock (also held by patch install). */
void umnp_self_discover_lock(void);
void umnp_self_discover_unlock(void);
/* A static program: FUNC symbols of the executable's .symtab by name. */
void umnp_self_exe_symbols(const char *const names[], void *out[], int n);
/* sud.c's learned site: the `mov $nr` right before the `syscall` at insn,
 * decoding from start (see discover.c); NULL if it is not one. */
uint8_t *umnp_self_find_site_before(const uint8_t *start, const uint8_t *insn,
				    long nr, uint8_t *len);
/* Discovery lock without waiting (the safety net's handler): true if
 * taken. */
bool umnp_self_discover_trylock(void);
/* The function holding code address a, from its object's FDE table:
 * *start and the length (0 if no FDE covers a). */
size_t umnp_self_fde_func(const void *a, uint8_t **start);
/* The first `syscall` directly followed by `ret` in [func, func + size). */
uint8_t *umnp_self_find_syscall_ret(const uint8_t *func, size_t size);
/* NULL when the decoder is loaded and ready, else why not (a static
 * string: "not loaded yet", the dlopen error...). */
const char *umnp_self_decoder_status(void);
/* UMN_SELF_DEBUG: print what discovery did. */
void umnp_self_discover_debug(void);

/* ---- sud.c: the safety net (UMN_SELF_SUD=1) ---------------------------- */

/* Arm Syscall User Dispatch on this thread with libc's text as the allowed
 * range.  0 or -errno. */
int umnp_self_sud_init(void *libc_getpid, uintptr_t text_start,
		       size_t text_len);
extern bool umnp_self_sud_on;
extern UMNP_SELF_TLS bool umnp_self_sud_armed;
long umnp_self_sud_arm_thread(void);
/* ... touching no thread-local (a task on a thread pointer of its own) */
long umnp_self_sud_arm_notls(void);
/* SIGSYS is never blocked on an armed thread: set before the first thread
 * is armed; unblock it on this one (async-signal-safe); rt_sigprocmask
 * from a patched libc site or syscall(), SIGSYS taken out of the set. */
extern bool umnp_self_sud_masking;
void umnp_self_sud_sigsys_unblock(void);
long umnp_self_sud_sigprocmask(const long a[6]);
/* signals.c: re-install every handler whose kernel mask blocks SIGSYS
 * without it (the net is being armed) */
void umnp_self_sigaction_unblock_sigsys(void);
/* ... and a raw rt_sigaction (trapped, or a signal umn never wraps): made
 * as asked but for SIGSYS in the mask */
long umnp_self_sigaction_trapped(const long a[6]);
/* sud_threads.c: ask every other running thread to arm itself (after the
 * flag is on); the SIGSYS handler's part: true if si was such a request
 * (then this thread is armed). */
void umnp_self_sud_arm_running(void);
bool umnp_self_sud_arm_request(const siginfo_t *si);
/* pthread_create calls that read the flag off and have not returned */
extern int umnp_self_sud_creating;
/* Before the first count: a fork child's count starts at 0 (atfork). */
void umnp_self_sud_creating_setup(void);
/* sud_libc_clone.c: find libc's clone() (from a constructor) */
void umnp_self_sud_clone_resolve(void);
/* umn__test_sud_arm_hook's function, if any, called with where */
void umnp_self_sud_test_point(int where);
/* pthread_create through real (libc's): with the net on, the new thread
 * arms itself before start runs (a thread made by libc does not trap).
 * real's result; EAGAIN if the start block cannot be allocated. */
typedef int (*umnp_pthread_create_fn)(pthread_t *, const pthread_attr_t *,
				      void *(*)(void *), void *);
int umnp_self_sud_thread_create(umnp_pthread_create_fn real,
				pthread_t *thread, const pthread_attr_t *attr,
				void *(*start)(void *), void *arg);
/* Patch the sites the net learned of, if any wait (discovery lock held,
 * not in a hook). */
void umnp_self_sud_drain_locked(void);
extern bool umnp_self_sud_pending;

/* sud_clone.c: clone, clone3, fork or vfork trapped from outside the
 * allowed range (SIGSYS handler), run so that the child starts armed.
 * uc: the interrupted context; gadget: libc's `syscall; ret`; arm: the
 * prctl arguments (start, length, selector).  The kernel-style result. */
struct ucontext_t;
long umnp_self_sud_clone(struct ucontext_t *uc, long nr, const long a[6],
			 uintptr_t gadget, const long arm[3]);

/* At every hook: arm this thread if the net is on and it is not yet. */
static inline void umnp_self_sud_thread(void)
{
	if (__builtin_expect(__atomic_load_n(&umnp_self_sud_on,
					     __ATOMIC_RELAXED) &&
			     !umnp_self_sud_armed, 0))
		umnp_self_sud_arm_thread();
}

/* ---- stack.c: the entry of discovered sites, on a stack of umn's ------ */

/* Map the stack pool (normal context).  0 or -errno. */
int umnp_self_stack_init(void);
/* fork child: no slot is held by any thread of the child. */
void umnp_self_stack_atfork_child(void);
/* The assembly entry of discovered sites (r11 = the site's record). */
void umnp_self_sysentry_ext(void);

struct umnp_site_rec {
	uintptr_t resume_syscall; /* the original `syscall` instruction */
	uintptr_t resume_after;   /* the instruction after it */
	uintptr_t flags;          /* UMNP_SITE_* */
};

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
