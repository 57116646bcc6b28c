/* SPDX-License-Identifier: MIT */
/*
 * The hook bodies: what each hooked call does to the address space, and the
 * start / real call / end bracket around it.
 *
 *   munmap(a, n)                     UNMAP [a, a + n)
 *   mremap(a, n, m, flags, b)        UNMAP [a, a + n) when it may move
 *                                    (MAYMOVE, FIXED, DONTUNMAP), else
 *                                    UNMAP [a + m, a + n) when it shrinks;
 *                                    FIXED: also UNMAP [b, b + m)
 *   madvise(a, n, advice that drops pages, see advice_drops)  CLEAR [a, a + n)
 *   process_madvise(fd, iov, ...)    CLEAR of the span of iov (same advice)
 *   mmap(a, n, .., MAP_FIXED, ..)    UNMAP [a, a + n) (what it replaces)
 *   mprotect(a, n, p)                PROTECTION_VMA [a, a + n)
 *   pkey_mprotect(a, n, p, k)        PROTECTION_VMA [a, a + n)
 *   remap_file_pages(a, n, ...)      UNMAP [a, a + n)
 *   brk(b) below the current break   UNMAP [b, break)
 *   shmat(id, a, SHM_REMAP)          UNMAP [a, a + segment size)
 *   shmdt(a)                         UNMAP of the segment's mappings at a
 * Lengths are rounded up to pages as the kernel does; calls the kernel will
 * refuse outright (unaligned address, overflow) report nothing.
 *
 * Non-blockable contexts.  A hook may run inside free() or malloc_trim()
 * with glibc's arena lock held, in a signal handler, or on a thread that
 * holds a subscriber's lock.  So: no allocation here (the maps scan for
 * shmdt reads /proc with raw system calls into a stack buffer), ranges are
 * DEFERRABLE (start never fails, a refusing interval callback is deferred by
 * the core), and while the self address space has subscribers the hook runs
 * with asynchronous signals blocked, so a handler that unmaps memory runs
 * after the hook instead of inside it (and is then reported normally).
 *
 * The re-entrancy guard.  While a thread runs umn's own code inside a hook
 * (umnp_thr.internal), hooked calls it makes (umn's own free(), liburcu's
 * mmap/munmap) pass straight to the kernel.  A user callback runs with the
 * flag cleared (the core saves and restores it around every callback), so
 * an unmap, remap, discard or protection change a callback makes, directly
 * or through free(), is a nested invalidation: reported like any other, to
 * every subscriber, the callback's own included (non-blockable and
 * deferrable, like every hook's range: a callback that holds its lock
 * refuses and the range is deferred).  Nested hooks take the mmap read
 * lock again (re-entrant per thread) and never wait for anything.
 *
 * No subscriber yet.  The fast path makes no start/end and takes no lock
 * when nobody ever subscribed to the self address space (one acquire load),
 * as the kernel's mm_has_notifiers().  If the first subscription lands while
 * the call is in the kernel, the range is reported right after the call,
 * flagged UMN_NOTIFIER_RANGE_AFTER, so that subscriber still hears of it.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/uio.h>
#include <umn/notifier.h>
#include "../debug.h"
#include "../probes.h"
#include "notifier_internal.h"
#include "self_internal.h"

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/*
 * Advice that drops or replaces the pages of a range, so a mirror of them
 * goes stale: the discards, reclaim (PAGEOUT unmaps the pages; the kernel
 * itself sends CLEAR from there), collapse into a huge page, poisoning and
 * offlining, guard regions (zap).  COLD, WILLNEED, ... change nothing a
 * mirror holds.
 */
static bool advice_drops(int advice)
{
	switch (advice) {
	case MADV_DONTNEED: case MADV_FREE: case MADV_REMOVE:
	case MADV_DONTNEED_LOCKED: case MADV_PAGEOUT: case MADV_COLLAPSE:
	case MADV_HWPOISON: case MADV_SOFT_OFFLINE: case MADV_GUARD_INSTALL:
		return true;
	default:
		return false;
	}
}
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif

/* Hooks on this thread's stack (nested ones run inside callbacks). */
static UMNP_SELF_TLS unsigned int hook_depth;

bool umnp_self_in_hook(void)
{
	return hook_depth != 0;
}

/* Entering umn's own code: hooked calls made from here pass through. */
void umnp_self_guard_enter(void)
{
	hook_depth++;
	umnp_thr.internal = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void umnp_self_guard_exit(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	umnp_thr.internal = 0;
	hook_depth--;
}

bool umnp_self_nr_interesting(long nr)
{
	switch (nr) {
	case SYS_mmap: case SYS_mprotect: case SYS_munmap: case SYS_brk:
	case SYS_mremap: case SYS_madvise: case SYS_shmat: case SYS_shmdt:
	case SYS_process_madvise:
	case SYS_pkey_mprotect: case SYS_remap_file_pages: /* discovered sites, syscall() */
		return true;
	default:
		return false;
	}
}

struct ranges {
	int n;
	enum umn_notifier_event ev[2];
	unsigned long start[2];
	unsigned long end[2];
	int prot; /* mprotect's new protection */
};

static void add(struct ranges *r, enum umn_notifier_event ev,
		unsigned long start, unsigned long len)
{
	unsigned long end;

	if (len == 0 || (start & (UMNP_SELF_PAGE - 1)))
		return;
	end = start + ((len + UMNP_SELF_PAGE - 1) & ~(UMNP_SELF_PAGE - 1));
	if (end <= start || r->n == 2)
		return;
	r->ev[r->n] = ev;
	r->start[r->n] = start;
	r->end[r->n] = end;
	r->n++;
}

/* ---- shmdt: how big is what is attached at addr? ------------------------- */

/* The top of the user address space (57-bit, 5-level paging): the end of
 * the conservative range of a shmdt whose segment cannot be measured. */
#define SHM_UNKNOWN_END 0x00fffffffffff000ul

/* A run of mappings of one segment (by path, not inode: the segment's
 * inode is its shm id, and the first segment of an IPC namespace has id
 * 0, so "/SYSV<key>" is what says a mapping is one). */
struct shm_run {
	unsigned long addr, want, len, ino;
	bool in_run;
};

static bool shm_run_line(const struct umnp_self_map *m, void *arg)
{
	struct shm_run *r = arg;
	bool sysv = m->path_len >= 5 && !memcmp(m->path, "/SYSV", 5);

	if (!r->in_run && m->start == r->want && sysv) {
		r->in_run = true;
		r->ino = m->inode;
		r->len = m->end - m->start;
		r->want = m->end;
	} else if (r->in_run && m->start == r->want && sysv &&
		   m->inode == r->ino) {
		r->len += m->end - m->start;
		r->want = m->end;
	} else if (r->in_run || m->start > r->addr) {
		return true;
	}
	return false;
}

/*
 * Length of the run of mappings of one shm segment starting at addr; 0 if
 * none starts there.  If /proc/self/maps cannot be read (no /proc in a
 * sandbox, EACCES, a read failing before the segment was found), the
 * length is unknown: everything from addr to the top of the address space,
 * so a detach is over-reported, never missed.
 */
static unsigned long shm_len_at(unsigned long addr)
{
	struct shm_run r = { .addr = addr, .want = addr };

	if (umnp_self_maps_each(shm_run_line, &r) < 0 && !r.in_run)
		return addr < SHM_UNKNOWN_END ? SHM_UNKNOWN_END - addr : 0;
	return r.len;
}

/* What the call will change.  May make raw system calls; never allocates. */
static void classify(long nr, const long *a, struct ranges *r)
{
	unsigned long addr = (unsigned long)a[0];

	r->n = 0;
	switch (nr) {
	case SYS_munmap:
		add(r, UMN_NOTIFY_UNMAP, addr, (unsigned long)a[1]);
		break;
	case SYS_mremap: {
		unsigned long olen = (unsigned long)a[1], nlen = (unsigned long)a[2];
		int flags = (int)a[3];
		unsigned long page_o = (olen + UMNP_SELF_PAGE - 1) &
				       ~(UMNP_SELF_PAGE - 1);
		unsigned long page_n = (nlen + UMNP_SELF_PAGE - 1) &
				       ~(UMNP_SELF_PAGE - 1);

		if (flags & (MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP))
			add(r, UMN_NOTIFY_UNMAP, addr, olen);
		else if (page_n < page_o)
			add(r, UMN_NOTIFY_UNMAP, addr + page_n, page_o - page_n);
		if (flags & MREMAP_FIXED)
			add(r, UMN_NOTIFY_UNMAP, (unsigned long)a[4], nlen);
		break;
	}
	case SYS_madvise:
		if (advice_drops((int)a[2]))
			add(r, UMN_NOTIFY_CLEAR, addr, (unsigned long)a[1]);
		break;
	case SYS_process_madvise: {
		const struct iovec *iov = (const struct iovec *)a[1];
		unsigned long vlen = (unsigned long)a[2], lo = ~0ul, hi = 0;

		if (!advice_drops((int)a[3]))
			return;
		/* One covering range; the pidfd may name another process
		 * (then this only over-invalidates).  The iovec array is
		 * copied with process_vm_readv so a bad pointer gives the
		 * caller EFAULT from the kernel instead of a crash here. */
		for (unsigned long i = 0; iov && i < vlen && i < 1024;) {
			struct iovec chunk[32];
			unsigned long k = vlen - i < 32 ? vlen - i : 32;

			if (!umnp_self_copy_in(chunk, iov + i,
					       k * sizeof(chunk[0])))
				break;
			for (unsigned long j = 0; j < k; j++) {
				unsigned long s = (unsigned long)chunk[j].iov_base;
				unsigned long e = s + chunk[j].iov_len;

				if (!chunk[j].iov_len || e < s)
					continue;
				lo = s < lo ? s : lo;
				hi = e > hi ? e : hi;
			}
			i += k;
		}
		if (lo < hi) {
			lo &= ~(UMNP_SELF_PAGE - 1);
			add(r, UMN_NOTIFY_CLEAR, lo, hi - lo);
		}
		break;
	}
	case SYS_mmap:
		if ((a[3] & MAP_FIXED) && !(a[3] & MAP_FIXED_NOREPLACE))
			add(r, UMN_NOTIFY_UNMAP, addr, (unsigned long)a[1]);
		break;
	case SYS_mprotect:
	case SYS_pkey_mprotect: /* discovered sites, syscall(), the safety net */
		add(r, UMN_NOTIFY_PROTECTION_VMA, addr, (unsigned long)a[1]);
		r->prot = (int)a[2];
		break;
	case SYS_remap_file_pages: /* emulated by the kernel as mmap(MAP_FIXED) */
		add(r, UMN_NOTIFY_UNMAP, addr, (unsigned long)a[1]);
		break;
	case SYS_brk: {
		unsigned long cur, lo;

		if (!addr)
			break;
		cur = (unsigned long)umnp_self_raw3(SYS_brk, 0, 0, 0);
		lo = (addr + UMNP_SELF_PAGE - 1) & ~(UMNP_SELF_PAGE - 1);
		cur = (cur + UMNP_SELF_PAGE - 1) & ~(UMNP_SELF_PAGE - 1);
		if (lo < cur)
			add(r, UMN_NOTIFY_UNMAP, lo, cur - lo);
		break;
	}
	case SYS_shmat: {
		struct shmid_ds ds;

		addr = (unsigned long)a[1]; /* shmat(id, addr, flags) */
		if (!((int)a[2] & SHM_REMAP) || !addr)
			break;
		if ((int)a[2] & SHM_RND)
			addr &= ~(unsigned long)(SHMLBA - 1);
		if (umnp_self_raw3(SYS_shmctl, a[0], IPC_STAT, (long)&ds) == 0)
			add(r, UMN_NOTIFY_UNMAP, addr, ds.shm_segsz);
		break;
	}
	case SYS_shmdt: {
		unsigned long len = shm_len_at(addr);

		if (len)
			add(r, UMN_NOTIFY_UNMAP, addr, len);
		break;
	}
	}
}

static long real_call(long nr, const long *a, umnp_self_real_fn real,
		      void *ctx)
{
	if (real)
		return real(a, ctx);
	return umnp_self_raw6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* Asynchronous signals only: a fault in a callback must still kill. */
/*
 * Where umn cannot see every sigaction (interposition, ThreadSanitizer
 * builds): SIGINT and SIGTERM, if their action is the default one right
 * now, read from the kernel (two system calls, in those cases only).
 */
static uint64_t default_action_stoppers(void)
{
	static const int sigs[] = { SIGINT, SIGTERM };
	uint64_t spare = 0;

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct umnp_ksigaction k;

		if (!umnp_self_is_err(umnp_self_raw_sigaction(sigs[i], NULL,
							      &k)) &&
		    k.handler == (void *)SIG_DFL)
			spare |= 1ull << (sigs[i] - 1);
	}
	return spare;
}

static void block_signals(uint64_t *old)
{
	/*
	 * Only signals with a handler can run code inside the hook; one with
	 * the default action (SIGTERM, SIGINT...) must still stop a process
	 * whose callback is stuck.  Where umn cannot see sigaction
	 * (interposition) it blocks all but SIGINT and SIGTERM at their
	 * default action.
	 */
	uint64_t all = __atomic_load_n(&umnp_self_caught_known,
				       __ATOMIC_ACQUIRE) ?
		__atomic_load_n(&umnp_self_caught, __ATOMIC_ACQUIRE) :
		~default_action_stoppers();

	all &= ~((1ull << (SIGSEGV - 1)) | (1ull << (SIGBUS - 1)) |
		 (1ull << (SIGILL - 1)) | (1ull << (SIGFPE - 1)) |
		 (1ull << (SIGTRAP - 1)) | (1ull << (SIGABRT - 1)) |
		 (1ull << (SIGSYS - 1)));
	umnp_self_raw6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&all, (long)old,
		       8, 0, 0);
	/* The core's locks need not mask again (synchronous signals cannot
	 * fire inside its short critical sections). */
	umnp_signals_blocked++;
}

static void restore_signals(const uint64_t *old)
{
	umnp_signals_blocked--;
	umnp_self_raw6(SYS_rt_sigprocmask, SIG_SETMASK, (long)old, 0, 8, 0, 0);
}

static void notify(struct umn_mm *mm, struct umn_notifier_range *rg,
		   const struct ranges *r, unsigned int origin,
		   unsigned int flags)
{
	for (int i = 0; i < r->n; i++) {
		umn_notifier_range_init(&rg[i], r->ev[i], flags, mm,
					r->start[i], r->end[i]);
		rg[i].origin = origin;
		rg[i].new_prot = r->ev[i] == UMN_NOTIFY_PROTECTION_VMA ? (unsigned int)r->prot : 0;
		UMN_PROBE5(self_hook, origin, r->ev[i], r->start[i], r->end[i], flags);
		/* DEFERRABLE: never fails (refusals are deferred). */
		(void)umn_notifier_invalidate_range_start_nonblock(&rg[i]);
	}
}

static void notify_end(struct umn_notifier_range *rg, const struct ranges *r)
{
	for (int i = r->n - 1; i >= 0; i--)
		umn_notifier_invalidate_range_end(&rg[i]);
}

/*
 * ThreadSanitizer builds only: an exiting thread discards its own stack
 * below the stack pointer (glibc's madvise at thread exit) after TSan has
 * finished the thread's state, and instrumented code (the core, the
 * callbacks) must not run there any more.  Such a range is passed through
 * unreported in TSan builds.
 */
static bool tsan_dead_thread(const struct ranges *r)
{
#if UMN_TSAN
	unsigned long sp = (unsigned long)__builtin_frame_address(0);

	return r->n == 1 && r->ev[0] == UMN_NOTIFY_CLEAR && r->end[0] <= sp &&
	       sp - r->end[0] < 64 * 1024;
#else
	(void)r;
	return false;
#endif
}

long umnp_self_call(unsigned int origin, long nr, const long a[6],
		    umnp_self_real_fn real, void *ctx)
{
	struct umn_mm *mm = __atomic_load_n(&umnp_self_mm, __ATOMIC_ACQUIRE);
	struct umn_notifier_range rg[2];
	struct ranges r;
	uint64_t oldmask;
	bool masked = false;
	long ret;
	int saved_errno;

	umnp_self_sud_thread(); /* the safety net, sud.c */
	if (nr == SYS_rt_sigaction)
		return umnp_self_sigaction(a);
	if (nr == SYS_rt_sigprocmask)
		return umnp_self_sud_sigprocmask(a);
	if (nr == SYS_set_robust_list) /* libc's new thread: armed above */
		return real_call(nr, a, real, ctx);
	/* umn's own calls pass through; a callback's are reported (nested) */
	if (!mm || umnp_thr.internal)
		return real_call(nr, a, real, ctx);
	saved_errno = errno;
	/* classify makes raw system calls only: no guard needed yet */
	classify(nr, a, &r);
	if (r.n == 0 || tsan_dead_thread(&r)) {
		/* Nothing to report, so no guard: a signal handler that runs
		 * during the call (mmap without MAP_FIXED takes microseconds)
		 * has its own calls reported. */
		ret = real_call(nr, a, real, ctx);
		errno = saved_errno;
		return ret;
	}
	if (!umn_mm_has_notifiers(mm)) {
		umnp_self_guard_enter();
		ret = real_call(nr, a, real, ctx);
		if (!umn_mm_has_notifiers(mm))
			goto out;
		/* The first subscriber arrived during the call. */
		masked = !umnp_self_nosigmask && !umnp_self_lazy_signals;
		if (masked)
			block_signals(&oldmask);
		umn_mmap_read_lock(mm);
		notify(mm, rg, &r, origin,
		       UMN_NOTIFIER_RANGE_DEFERRABLE | UMN_NOTIFIER_RANGE_AFTER);
		notify_end(rg, &r);
		umn_mmap_read_unlock(mm);
		goto out;
	}
	/* Mask before the guard: a handler that ran while the guard was set
	 * would have its own munmap passed through unreported. */
	masked = !umnp_self_nosigmask && !umnp_self_lazy_signals;
	if (masked)
		block_signals(&oldmask);
	umnp_self_guard_enter();
	umn_mmap_read_lock(mm);
	notify(mm, rg, &r, origin, UMN_NOTIFIER_RANGE_DEFERRABLE);
	ret = real_call(nr, a, real, ctx);
	notify_end(rg, &r);
	umn_mmap_read_unlock(mm);
out:
	umnp_self_guard_exit();
	/* After the guard: a signal that arrived meanwhile is delivered on
	 * this unmask, and its handler's calls are hooked normally. */
	if (masked)
		restore_signals(&oldmask);
	errno = saved_errno;
	return ret;
}
