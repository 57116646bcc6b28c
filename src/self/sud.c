/* SPDX-License-Identifier: MIT */
/*
 * The safety net (opt-in: UMN_SELF_SUD=1): Syscall User Dispatch (Linux
 * >= 5.11, unprivileged) for the system calls site discovery cannot see --
 * a number held in a register (Go's syscall.Syscall), code generated at
 * run time.
 *
 * How.  prctl(PR_SET_SYSCALL_USER_DISPATCH) with libc's executable segment
 * as the allowed range and a process-wide selector byte set to BLOCK: a
 * `syscall` instruction anywhere else raises SIGSYS (si_code
 * SYS_USER_DISPATCH) instead of running.  Our handler runs it: a
 * map-changing number through umnp_self_call() (start, the call, end, as a
 * patched site would), any other number as is; the result goes into the
 * interrupted rax.  libc's wrappers (patched) and its signal return
 * trampoline are in the allowed range; umn's own raw system calls are made
 * by a `syscall; ret` instruction pair inside libc (found by decoding
 * getpid()), so they do not trap either.  rt_sigprocmask is applied to the
 * interrupted context's mask (the kernel restores that mask at sigreturn).
 *
 * SIGSYS is never blocked on an armed thread (a trap on a thread that
 * blocks it kills the process): it is cleared from the sets of libc's
 * pthread_sigmask, setcontext and swapcontext (their sites patched,
 * patch.c) and of a trapped rt_sigprocmask, from handlers' masks
 * (signals.c) and the temporary masks of trapped waits (rt_sigsuspend,
 * ppoll, pselect6, epoll_pwait), and unblocked when a thread arms.
 *
 * Threads.  The setting is per thread and the kernel clears it in every
 * new task (thread or fork child), exec too: armed on the thread that
 * installs the sources, on every thread already running then by a signal
 * that asks it to arm itself (sud_threads.c), on every other thread at
 * its first hooked call (any patched wrapper, even a plain mmap such as
 * its first malloc arena's), in libc's fork child (self.c), in a thread
 * made by pthread_create before its start routine
 * (umnp_self_sud_thread_create, below; libc's own pthread_create, where
 * umn's is not used: at start_thread's set_robust_list, patched in
 * patch.c), in the child of libc's clone()
 * before fn (sud_libc_clone.c), and -- for tasks made by a clone, clone3,
 * fork or vfork from outside libc, which trap -- by the child itself
 * before it runs a user instruction (sud_clone.c).  The selector is one
 * process-wide byte, always BLOCK, so no thread's setting depends on its
 * thread pointer.
 *
 * Sites it learns of.  A trapped map-changing call with the fixed shape
 * (`mov $NR,%eax` or `mov $NR,%rax` right before the `syscall`, NR the
 * trapped number) in code generated at run time (an anonymous executable
 * mapping) is patched like a discovered site, after the call has been
 * handled, so it traps once: decoded from the start of its mapping (no
 * symbol or FDE names a JIT's functions), and patched only if that
 * decoding lands on the trapped `syscall` with the `mov` right before it.
 * In a file-backed object discovery has already decoded every function it
 * knows of; a site it left there keeps trapping.  See learn().
 *
 * Not done (doc/sources.md): a program that installs its own SIGSYS
 * handler after umn replaces ours; the cases of clone sud_clone.c refuses.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <ucontext.h>
#include <umn/notifier.h>
#include "self_internal.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#endif
#define SUD_ALLOW 0
#define SUD_BLOCK 1
#define SI_SYS_USER_DISPATCH 2

#if defined(__x86_64__)

/* Where umn's raw system calls go while the net is armed (stack.c). */
__attribute__((visibility("hidden"))) uintptr_t umnp_self_sud_gadget;

static volatile char selector = SUD_ALLOW;
static uintptr_t sud_start, sud_len;
bool umnp_self_sud_on;
UMNP_SELF_TLS bool umnp_self_sud_armed;

#define SIGSYS_BIT (1ull << (SIGSYS - 1))

/* Set by umnp_self_sud_init() before the first thread is armed: from then
 * on no mask that reaches the kernel through umn blocks SIGSYS. */
bool umnp_self_sud_masking;

/* Unblock SIGSYS on this thread: an armed thread that blocks it is killed
 * at its next trap.  Async-signal-safe. */
void umnp_self_sud_sigsys_unblock(void)
{
	uint64_t s = SIGSYS_BIT;

	umnp_self_raw6(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&s, 0, 8, 0, 0);
}

/* This thread's first hook: arm it too (the setting is per thread and a
 * new thread does not inherit it).  A thread that blocked SIGSYS before
 * the net was on has it unblocked here (its pending arming request, if
 * any, is then taken at once).  Async-signal-safe.  0 or -errno. */
long umnp_self_sud_arm_thread(void)
{
	long r;

	umnp_self_sud_armed = true;
	r = umnp_self_raw6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH,
			   PR_SYS_DISPATCH_ON, (long)sud_start, (long)sud_len,
			   (long)&selector, 0);
	umnp_self_sud_sigsys_unblock();
	return r;
}

/* A signal set a call is given (the mask it sets or blocks, or blocks
 * while it waits): p itself, or buf holding a copy without SIGSYS.  A
 * pointer that cannot be read is passed on: the kernel's EFAULT, before
 * it changes anything. */
static long sigsys_free_set(long p, long size, uint64_t *buf)
{
	if (!p || size != 8 || !umnp_self_copy_in(buf, (const void *)p, 8) ||
	    !(*buf & SIGSYS_BIT))
		return p;
	*buf &= ~SIGSYS_BIT;
	return (long)buf;
}

/*
 * rt_sigprocmask through one of libc's patched sites (pthread_sigmask,
 * which sigprocmask calls, setcontext, swapcontext; patch.c) or libc's
 * syscall(): with the net on, SIGSYS is taken out of the set being blocked
 * or set, as libc takes out its own SIGCANCEL and SIGSETXID.  The old mask
 * returned is the kernel's (SIGSYS unblocked).  The kernel-style result.
 */
long umnp_self_sud_sigprocmask(const long a[6])
{
	uint64_t set;
	long p = a[1];

	if (__atomic_load_n(&umnp_self_sud_masking, __ATOMIC_ACQUIRE) &&
	    (a[0] == SIG_BLOCK || a[0] == SIG_SETMASK))
		p = sigsys_free_set(a[1], a[3], &set);
	return umnp_self_raw6(SYS_rt_sigprocmask, a[0], p, a[2], a[3], a[4],
			      a[5]);
}
/* The same without this thread's "armed" flag: for a task whose thread
 * pointer may not be one umn's thread-locals know (sud_libc_clone.c).
 * Async-signal-safe.  0 or -errno. */
long umnp_self_sud_arm_notls(void)
{
	return umnp_self_rawsys(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH,
				PR_SYS_DISPATCH_ON, (long)sud_start,
				(long)sud_len, (long)&selector, 0);
}
static struct sigaction prev_sigsys;

/* ---- threads made by libc -------------------------------------------------
 * pthread_create's clone runs inside libc's text, the allowed range: it
 * does not trap, and the kernel starts the thread with the net cleared.
 * umnp_self_sud_thread_create() (behind libumn's pthread_create and the
 * trace preload's) starts such a thread on sud_thread_start, which arms it
 * before the user's start routine runs.  With the net off it only calls
 * libc's.
 *
 * The block passing start and arg is freed by a later
 * umnp_self_sud_thread_create(), not by the thread: free() there would be
 * a call of the thread's own (a new thread's first free() may set up its
 * malloc arena) before the user's first instruction.  Blocks handed to a
 * thread go on a lock-free list (push by CAS, reap by taking the whole
 * list: no pop of one node, so no ABA); a fork child keeps the blocks of
 * threads it does not have (a few bytes each, bounded by the threads being
 * started at the fork).
 */
struct sud_thread_start {
	void *(*start)(void *);
	void *arg;
	struct sud_thread_start *next;
	bool taken; /* the thread has read start and arg */
};

static struct sud_thread_start *thread_starts;

static void thread_starts_push(struct sud_thread_start *s)
{
	struct sud_thread_start *head =
		__atomic_load_n(&thread_starts, __ATOMIC_RELAXED);

	do
		s->next = head;
	while (!__atomic_compare_exchange_n(&thread_starts, &head, s, true,
					    __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
}

/* Free the blocks whose threads have read them; push back the others. */
static void thread_starts_reap(void)
{
	struct sud_thread_start *s, *next;

	if (!__atomic_load_n(&thread_starts, __ATOMIC_RELAXED))
		return;
	s = __atomic_exchange_n(&thread_starts, NULL, __ATOMIC_ACQUIRE);
	for (; s; s = next) {
		next = s->next;
		if (__atomic_load_n(&s->taken, __ATOMIC_ACQUIRE))
			free(s);
		else
			thread_starts_push(s);
	}
}

static void *sud_thread_start(void *p)
{
	struct sud_thread_start *s = p;
	void *(*start)(void *);
	void *arg;

	umnp_self_sud_arm_thread(); /* before anything of the user's */
	start = s->start;
	arg = s->arg;
	__atomic_store_n(&s->taken, true, __ATOMIC_RELEASE);
	/* a tail call: the start routine's value, pthread_exit and
	 * cancellation are the thread's own */
	return start(arg);
}

int umnp_self_sud_thread_create(umnp_pthread_create_fn real,
				pthread_t *thread, const pthread_attr_t *attr,
				void *(*start)(void *), void *arg)
{
	struct sud_thread_start *s;
	int r, e;

	if (!__atomic_load_n(&umnp_self_sud_on, __ATOMIC_ACQUIRE)) {
		/* A creator in flight: the net's arming waits for it before
		 * it lists the threads (sud_threads.c), so a thread made with
		 * the flag read off is listed and armed by a signal.  The
		 * flag is read again after the count is up (both seq_cst):
		 * either the arming sees the count or this sees the flag. */
		umnp_self_sud_creating_setup();
		__atomic_fetch_add(&umnp_self_sud_creating, 1,
				   __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&umnp_self_sud_on, __ATOMIC_SEQ_CST)) {
			umnp_self_sud_test_point(2);
			r = real(thread, attr, start, arg);
			__atomic_fetch_sub(&umnp_self_sud_creating, 1,
					   __ATOMIC_SEQ_CST);
			return r;
		}
		__atomic_fetch_sub(&umnp_self_sud_creating, 1,
				   __ATOMIC_SEQ_CST);
	}
	thread_starts_reap();
	s = malloc(sizeof(*s));
	if (!s)
		return EAGAIN; /* pthread_create's "no resources" */
	s->start = start;
	s->arg = arg;
	s->taken = false;
	r = real(thread, attr, sud_thread_start, s);
	if (r) {
		e = errno;
		free(s); /* the thread does not exist: nothing else has it */
		errno = e;
	} else {
		thread_starts_push(s);
	}
	return r;
}

/* ---- sites learned from traps ---------------------------------------------
 * A map-changing call that traps comes from a site discovery did not
 * patch.  Each is recorded once (by the address of its `syscall`
 * instruction) with a count of its traps; one with the fixed shape (`mov
 * $NR,%eax` or `mov $NR,%rax` right before the `syscall`, NR the trapped
 * number) is queued and patched like a discovered site, so it traps once.
 */
#define SUD_SITES 256
enum { SITE_QUEUED = 1, SITE_PATCHED, SITE_UNPATCHABLE };

static struct sud_site {
	uintptr_t insn;      /* the `syscall` instruction; 0: free slot */
	long nr;
	unsigned long traps;
	int state;
} sud_sites[SUD_SITES];
static unsigned long sud_traps;      /* every trapped map-changing call */
bool umnp_self_sud_pending;          /* some site is SITE_QUEUED */

static struct sud_site *site_get(uintptr_t insn, long nr)
{
	for (unsigned int i = 0; i < SUD_SITES; i++) {
		struct sud_site *s = &sud_sites[(insn / 2 + i) % SUD_SITES];
		uintptr_t cur = __atomic_load_n(&s->insn, __ATOMIC_ACQUIRE);

		if (cur == insn)
			return s;
		if (cur)
			continue;
		if (__atomic_compare_exchange_n(&s->insn, &cur, insn, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			s->nr = nr;
			return s;
		}
		if (cur == insn)
			return s;
	}
	return NULL; /* table full: counted in sud_traps only */
}

/* The fixed shape, read from the bytes; confirmed by decoding later. */
static bool fixed_shape(const uint8_t *insn, long nr)
{
	int32_t imm;

	if (insn[0] != 0x0f || insn[1] != 0x05)
		return false;
	memcpy(&imm, insn - 4, 4);
	if (insn[-5] == 0xb8 && (long)(uint32_t)imm == nr)
		return true;
	return insn[-7] == 0x48 && insn[-6] == 0xc7 && insn[-5] == 0xc0 &&
	       (long)imm == nr;
}

/* The mapping holding a: its start, its protection, and whether it is
 * anonymous (no file: code generated at run time). */
struct mapping_query {
	uintptr_t a, start;
	int prot;
	bool anon, found;
};

static bool mapping_line(const struct umnp_self_map *m, void *arg)
{
	struct mapping_query *q = arg;

	if (q->a < m->start || q->a >= m->end)
		return q->a < m->start; /* sorted: past it */
	q->start = m->start;
	q->prot = m->prot;
	q->anon = !m->path_len || (m->path_len >= 5 &&
				   !memcmp(m->path, "[anon", 5));
	q->found = true;
	return true;
}

static bool mapping_of(uintptr_t a, uintptr_t *start, int *prot, bool *anon)
{
	struct mapping_query q = { .a = a };

	umnp_self_maps_each(mapping_line, &q);
	*start = q.start;
	*prot = q.prot;
	*anon = q.anon;
	return q.found;
}

/* Decode from the start of the site's mapping and patch it.  Code in a
 * file-backed object was scanned by discovery: a site it did not patch
 * there has no function start to decode from, and is left trapping. */
static int learned_patch(const struct sud_site *s)
{
	uint8_t *insn = (uint8_t *)s->insn, *mov;
	uintptr_t start;
	uint8_t len;
	int prot;
	bool anon;

	if (!mapping_of(s->insn, &start, &prot, &anon) || !anon ||
	    !(prot & PROT_EXEC))
		return -ENOTSUP;
	mov = umnp_self_find_site_before((const uint8_t *)start, insn, s->nr,
					 &len);
	if (!mov)
		return -ENOTSUP;
	return umnp_self_patch_site_prot(mov, len, 0, prot);
}

/* Discovery lock held, not in a hook. */
void umnp_self_sud_drain_locked(void)
{
	__atomic_store_n(&umnp_self_sud_pending, false, __ATOMIC_SEQ_CST);
	for (unsigned int i = 0; i < SUD_SITES; i++) {
		struct sud_site *s = &sud_sites[i];
		int r;

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SITE_QUEUED)
			continue;
		r = learned_patch(s);
		__atomic_store_n(&s->state, r ? SITE_UNPATCHABLE : SITE_PATCHED,
				 __ATOMIC_RELEASE);
	}
	umnp_self_patch_seal();
}

/*
 * After a trapped map-changing call from insn: count it, queue its site
 * the first time, and patch what is queued if that is safe here.  The trap
 * is synchronous and comes from code outside libc and outside umn, so the
 * thread holds no lock of libc's or the loader's; umn's own locks: only
 * inside a hook (a callback's raw call), then the site waits for the next
 * trap or the discovery lock's next holder.
 */
static void learn(uintptr_t insn, long nr)
{
	struct sud_site *s = site_get(insn, nr);
	int unset = 0;

	__atomic_fetch_add(&sud_traps, 1, __ATOMIC_RELAXED);
	if (!s)
		return;
	__atomic_fetch_add(&s->traps, 1, __ATOMIC_RELAXED);
	if (__atomic_compare_exchange_n(&s->state, &unset,
					fixed_shape((const uint8_t *)insn, nr)
						? SITE_QUEUED
						: SITE_UNPATCHABLE,
					false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE) &&
	    s->state == SITE_QUEUED)
		__atomic_store_n(&umnp_self_sud_pending, true,
				 __ATOMIC_SEQ_CST);
	/* Patched, yet it traps with the fixed shape back in place: the
	 * code was replaced (a JIT unmapped it and wrote new code at the
	 * same address).  Learn it again. */
	unset = SITE_PATCHED;
	if (fixed_shape((const uint8_t *)insn, nr) &&
	    __atomic_compare_exchange_n(&s->state, &unset, SITE_QUEUED, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		__atomic_store_n(&umnp_self_sud_pending, true,
				 __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&umnp_self_sud_pending, __ATOMIC_ACQUIRE) ||
	    umnp_self_in_hook() || !umnp_self_discover_trylock())
		return;
	umnp_self_discover_unlock(); /* drains on its way out */
}

/* Private, for umn's tests (<umn/self.h>): traps counted at the `syscall`
 * instruction at insn (map-changing calls only), or all traps if NULL. */
unsigned long umn__test_sud_traps(const void *insn);
unsigned long umn__test_sud_traps(const void *insn)
{
	if (!insn)
		return __atomic_load_n(&sud_traps, __ATOMIC_RELAXED);
	for (unsigned int i = 0; i < SUD_SITES; i++)
		if (__atomic_load_n(&sud_sites[i].insn, __ATOMIC_ACQUIRE) ==
		    (uintptr_t)insn)
			return __atomic_load_n(&sud_sites[i].traps,
					       __ATOMIC_RELAXED);
	return 0;
}

static void sigmask_emulate(ucontext_t *uc, long how, const uint64_t *set,
			    uint64_t *old, long *ret)
{
	uint64_t cur;

	memcpy(&cur, &uc->uc_sigmask, 8);
	if (old)
		*old = cur;
	if (set) {
		/* SIGSYS too: the net's own traps must never be blocked */
		uint64_t s = *set & ~((1ull << (SIGKILL - 1)) |
				      (1ull << (SIGSTOP - 1)) | SIGSYS_BIT);

		if (how == SIG_BLOCK)
			cur |= s;
		else if (how == SIG_UNBLOCK)
			cur &= ~s;
		else if (how == SIG_SETMASK)
			cur = s;
		else {
			*ret = -EINVAL;
			return;
		}
		memcpy(&uc->uc_sigmask, &cur, 8);
	}
	*ret = 0;
}

/*
 * rt_sigsuspend, ppoll, pselect6, epoll_pwait(2) trapped: made with their
 * temporary mask without SIGSYS (a handler run while the call waits runs
 * under that mask, and would be killed at its first trap).
 */
static long temp_mask_call(long nr, const long a[6])
{
	long b[6];
	uint64_t set;
	struct { long set, size; } ps;

	memcpy(b, a, sizeof(b));
	switch (nr) {
	case SYS_rt_sigsuspend:
		b[0] = sigsys_free_set(a[0], a[1], &set);
		break;
	case SYS_ppoll:
		b[3] = sigsys_free_set(a[3], a[4], &set);
		break;
	case SYS_pselect6: /* a[5]: { const sigset_t *, size_t } */
		if (a[5] && umnp_self_copy_in(&ps, (const void *)a[5],
					      sizeof(ps))) {
			long m = sigsys_free_set(ps.set, ps.size, &set);

			if (m != ps.set) {
				ps.set = m;
				b[5] = (long)&ps;
			}
		}
		break;
	default: /* epoll_pwait, epoll_pwait2 */
		b[4] = sigsys_free_set(a[4], a[5], &set);
	}
	return umnp_self_raw6(nr, b[0], b[1], b[2], b[3], b[4], b[5]);
}

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *g = uc->uc_mcontext.gregs;
	long nr = si->si_syscall, r;
	const long a[6] = { g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10],
			    g[REG_R8], g[REG_R9] };

	if (si->si_code != SI_SYS_USER_DISPATCH) {
		/* a request to arm this thread (sud_threads.c) */
		if (umnp_self_sud_arm_request(si))
			return;
		/* a SIGSYS of someone else's (seccomp): theirs */
		if (prev_sigsys.sa_flags & SA_SIGINFO)
			prev_sigsys.sa_sigaction(sig, si, ctx);
		else if (prev_sigsys.sa_handler != SIG_DFL &&
			 prev_sigsys.sa_handler != SIG_IGN)
			prev_sigsys.sa_handler(sig);
		else
			umnp_self_raw6(SYS_kill, umnp_self_raw3(SYS_getpid, 0,
								 0, 0),
				       SIGKILL, 0, 0, 0, 0);
		return;
	}
	switch (nr) {
	case SYS_rt_sigprocmask:
		sigmask_emulate(uc, a[0], (const uint64_t *)a[1],
				(uint64_t *)a[2], &r);
		break;
	case SYS_clone: case SYS_clone3: case SYS_fork: case SYS_vfork: {
		/* the kernel would start the child unarmed (sud_clone.c) */
		const long arm[3] = { (long)sud_start, (long)sud_len,
				      (long)&selector };

		r = umnp_self_sud_clone(uc, nr, a, umnp_self_sud_gadget, arm);
		break;
	}
	case SYS_rt_sigaction: /* a handler's mask must not block SIGSYS */
		r = umnp_self_sigaction_trapped(a);
		break;
	case SYS_rt_sigsuspend: case SYS_ppoll: case SYS_pselect6:
	case SYS_epoll_pwait: case SYS_epoll_pwait2:
		r = temp_mask_call(nr, a);
		break;
	case SYS_rt_sigreturn:
		r = -ENOSYS;
		break;
	default:
		if (umnp_self_nr_interesting(nr)) {
			r = umnp_self_call(UMN_ORIGIN_PATCH, nr, a, NULL, NULL);
			/* after the call: it has been reported */
			learn((uintptr_t)g[REG_RIP] - 2, nr);
		} else
			r = umnp_self_raw6(nr, a[0], a[1], a[2], a[3], a[4],
					   a[5]);
	}
	g[REG_RAX] = r;
}

int umnp_self_sud_init(void *libc_getpid, uintptr_t text_start,
		       size_t text_len)
{
	struct sigaction sa;
	uint8_t *gadget;

	gadget = umnp_self_find_syscall_ret(libc_getpid, 64);
	if (!gadget || (uintptr_t)gadget < text_start ||
	    (uintptr_t)gadget + 3 > text_start + text_len)
		return -ENOTSUP;
	/* before any thread is armed: masks set from now on leave SIGSYS
	 * alone, and handlers already installed stop blocking it */
	__atomic_store_n(&umnp_self_sud_masking, true, __ATOMIC_SEQ_CST);
	umnp_self_sigaction_unblock_sigsys();
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	/* SA_RESTART: for the arming requests, which may interrupt a
	 * system call (a trap is taken before its call runs) */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, &prev_sigsys))
		return -errno;
	__atomic_store_n(&umnp_self_sud_gadget, (uintptr_t)gadget,
			 __ATOMIC_SEQ_CST);
	selector = SUD_BLOCK;
	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, text_start,
		  text_len, &selector)) {
		int e = errno;

		selector = SUD_ALLOW;
		__atomic_store_n(&umnp_self_sud_masking, false,
				 __ATOMIC_SEQ_CST);
		__atomic_store_n(&umnp_self_sud_gadget, 0, __ATOMIC_SEQ_CST);
		sigaction(SIGSYS, &prev_sigsys, NULL);
		return -e;
	}
	sud_start = text_start;
	sud_len = text_len;
	umnp_self_sud_armed = true;
	umnp_self_sud_sigsys_unblock();
	/* the flag first: a thread made from now on arms itself, one
	 * already running is asked to (its creator may be in flight) */
	__atomic_store_n(&umnp_self_sud_on, true, __ATOMIC_SEQ_CST);
	umnp_self_sud_arm_running();
	return 0;
}

#else

bool umnp_self_sud_on;
bool umnp_self_sud_pending;
bool umnp_self_sud_masking;

long umnp_self_sud_sigprocmask(const long a[6])
{
	return umnp_self_raw6(SYS_rt_sigprocmask, a[0], a[1], a[2], a[3], a[4],
			      a[5]);
}

void umnp_self_sud_drain_locked(void)
{
}

unsigned long umn__test_sud_traps(const void *insn);
unsigned long umn__test_sud_traps(const void *insn)
{
	(void)insn;
	return 0;
}
UMNP_SELF_TLS bool umnp_self_sud_armed;

long umnp_self_sud_arm_thread(void)
{
	return -ENOTSUP;
}

long umnp_self_sud_arm_notls(void)
{
	return -ENOTSUP;
}

int umnp_self_sud_thread_create(umnp_pthread_create_fn real,
				pthread_t *thread, const pthread_attr_t *attr,
				void *(*start)(void *), void *arg)
{
	return real(thread, attr, start, arg);
}

int umnp_self_sud_init(void *libc_getpid, uintptr_t text_start,
		       size_t text_len)
{
	(void)libc_getpid; (void)text_start; (void)text_len;
	return -ENOTSUP;
}

#endif
