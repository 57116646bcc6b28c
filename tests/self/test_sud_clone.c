/* SPDX-License-Identifier: MIT */
/*
 * The safety net (UMN_SELF_SUD=1) and tasks made without libc.  A thread
 * made by an inline-asm raw clone (CLONE_VM|CLONE_FS|CLONE_FILES|
 * CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|
 * CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, its own stack and its own copy
 * of the thread-local block), by clone3 (its struct of 64 bytes, and one
 * of a newer size with its new fields 0), and by clone without CLONE_SETTLS
 * (thread pointer shared): the kernel starts it with Syscall User Dispatch
 * cleared, so umn runs the clone itself and the child arms the net before
 * its first instruction.  In the thread, munmap and madvise(DONTNEED) with
 * the number in a register: they trap, and a subscriber sees them before
 * they run.  The child also checks that it got the caller's registers
 * (r12, r13, xmm8), rax = 0, the caller's signal mask, and its stack.
 * A raw fork and a raw vfork: the child is armed and has umn's fork-child
 * state (a fresh umn_mm_self() on which it subscribes and sees its munmap)
 * and, as after libc's fork(), empty registration caches: a region the
 * parent cached is a miss in the child, registered again there.
 *
 * Built twice: self.sud_clone (linked with libumn, the subscriber checks)
 * and tool_prog_rawclone (no umn; run under `umn trace --audit` with
 * UMN_SELF_SUD=1 by tests/tool: 0 missed).  Skips (77) where the kernel
 * lacks Syscall User Dispatch (< 5.11).  Watchdog: alarm(30).
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sud_common.h"
#ifndef SUD_NO_UMN
#include <umn/regcache.h>
#endif

#define MAGIC_R12 0x1234567887654321l
#define MAGIC_R13 0x0badc0ffee0ddf00l

/* What the child saw, written by it (shared memory with CLONE_VM; a
 * fork-like child checks its own copy and says so by its exit status). */
long child_r12, child_r13, child_rsp;
unsigned char child_xmm8[16];
const unsigned char xmm_pattern[16] = "umn-xmm8-pattern";
static long expected_rsp;
static volatile int mask_ok, advise_zeroed;
#ifndef SUD_NO_UMN
static unsigned long traps_before; /* at sud_reg_insn, before the clone */
#endif

/* The new task, on its own stack: the calls, then exit(status), status 0
 * if everything the child can check was right. */
__attribute__((noreturn, used)) void child_main(void);
void child_main(void)
{
	sigset_t cur;
	long status = 0;

	mask_ok = !sigprocmask(SIG_SETMASK, NULL, &cur) &&
		  sigismember(&cur, SIGUSR2) && !sigismember(&cur, SIGUSR1);
	sud_reg_calls();
	advise_zeroed = sud_advise_page[0] == 0;
	if (!mask_ok || sud_munmap_ret || sud_madvise_ret || !advise_zeroed)
		status |= 1;
	if (child_r12 != MAGIC_R12 || child_r13 != MAGIC_R13 ||
	    child_rsp != expected_rsp ||
	    memcmp(child_xmm8, xmm_pattern, 16))
		status |= 2;
#ifndef SUD_NO_UMN
	if (umn__test_sud_traps(sud_reg_insn) - traps_before != 2)
		status |= 4; /* not armed */
#endif
	for (;;)
		sud_reg_syscall(SYS_exit, status, 0, 0);
}

/*
 * The raw call: nr (SYS_clone or SYS_clone3) with rdi rsi rdx r10 r8 as
 * given; r12, r13 and xmm8 hold known values.  The child stores what it
 * has, aligns its stack and runs child_main; the parent gets the result.
 */
static long raw_clone(long nr, long a0, long a1, long a2, long a3, long a4)
{
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;
	register long r12 __asm__("r12") = MAGIC_R12;
	register long r13 __asm__("r13") = MAGIC_R13;
	long r;

	__asm__ volatile("movdqu xmm_pattern(%%rip),%%xmm8\n"
			 "	syscall\n"
			 "	test %%rax,%%rax\n"
			 "	jnz 1f\n"
			 "	mov %%r12,child_r12(%%rip)\n"
			 "	mov %%r13,child_r13(%%rip)\n"
			 "	mov %%rsp,child_rsp(%%rip)\n"
			 "	movdqu %%xmm8,child_xmm8(%%rip)\n"
			 "	and $-16,%%rsp\n"
			 "	call child_main\n"
			 "	ud2\n"
			 "1:\n"
			 : "=a"(r)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10),
			   "r"(r8), "r"(r12), "r"(r13)
			 : "rcx", "r11", "xmm8", "memory");
	return r;
}

/* A copy of this thread's static TLS block and TCB for the child, its
 * self pointers fixed: what a runtime that sets up its own threads does.
 * Returns the child's thread pointer. */
static uintptr_t tls_copy(void)
{
	void (*info)(size_t *, size_t *) =
		(void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT,
						    "_dl_get_tls_static_info");
	size_t size = 64 << 10, align = 64;
	uintptr_t tp, lo, hi, s, e;
	char line[512], *copy;
	FILE *f;

	__asm__("mov %%fs:0,%0" : "=r"(tp));
	if (info)
		info(&size, &align);
	lo = tp - size;
	hi = tp + 4096;
	f = fopen("/proc/self/maps", "r");
	EXPECT(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && tp >= s && tp < e) {
			lo = lo < s ? s : lo;
			hi = hi > e ? e : hi;
		}
	fclose(f);
	copy = mmap(NULL, hi - lo + 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT(copy != MAP_FAILED);
	memcpy(copy + (lo & 4095), (void *)lo, hi - lo);
	tp = (uintptr_t)copy + (lo & 4095) + (tp - lo);
	((uintptr_t *)tp)[0] = tp; /* tcbhead_t.tcb */
	((uintptr_t *)tp)[2] = tp; /* tcbhead_t.self */
	return tp;
}

struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls;
};

/*
 * One task made by a raw clone from outside libc.  how: "clone",
 * "clone3", "clone-no-tls" (threads: CLONE_VM|CLONE_THREAD..., the last
 * one sharing the caller's thread pointer), "vfork-stack"
 * (CLONE_VM|CLONE_VFORK with a stack, as posix_spawn does), "fork-stack"
 * (no CLONE_VM, a stack).  Its calls ran, were trapped and reported; its
 * state was the caller's.
 */
static void clone_case(const char *how)
{
	const long thread = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			    CLONE_THREAD | CLONE_SYSVSEM | CLONE_PARENT_SETTID |
			    CLONE_CHILD_CLEARTID;
	bool process = !strcmp(how, "vfork-stack") ||
		       !strcmp(how, "fork-stack");
	bool tls = !process && strcmp(how, "clone-no-tls") != 0;
	long flags = !strcmp(how, "vfork-stack") ?
		     CLONE_VM | CLONE_VFORK | SIGCHLD :
		     !strcmp(how, "fork-stack") ? SIGCHLD :
		     thread | (tls ? CLONE_SETTLS : 0);
	size_t stack_size = 256 << 10;
	char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	uintptr_t tp = tls ? tls_copy() : 0;
	static volatile pid_t ptid, ctid;
	sigset_t set, saved;
	long tid;
	int st = -1;

	EXPECT(stack != MAP_FAILED);
	sud_pages_map();
	mask_ok = advise_zeroed = 0;
	child_r12 = child_r13 = child_rsp = 0;
	memset(child_xmm8, 0, sizeof(child_xmm8));
	expected_rsp = (long)(stack + stack_size);
#ifndef SUD_NO_UMN
	sud_nev = 0;
	traps_before = umn__test_sud_traps(sud_reg_insn);
#endif
	ptid = 0;
	ctid = -1;
	/* the child must start with this mask, not the handler's */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	EXPECT(!sigprocmask(SIG_BLOCK, &set, &saved));
	if (!strncmp(how, "clone3", 6)) {
		struct {
			struct clone3_args a;
			uint64_t set_tid, set_tid_size, cgroup, newer[4];
		} big;
		struct clone3_args a = {
			.flags = (uint64_t)flags,
			.child_tid = (uintptr_t)&ctid,
			.parent_tid = (uintptr_t)&ptid,
			.stack = (uintptr_t)stack,
			.stack_size = stack_size,
			.tls = tp,
		};

		memset(&big, 0, sizeof(big));
		big.a = a;
		/* "clone3-big": a newer struct, its new fields 0 */
		tid = strcmp(how, "clone3-big") ?
		      raw_clone(SYS_clone3, (long)&a, sizeof(a), 0, 0, 0) :
		      raw_clone(SYS_clone3, (long)&big, sizeof(big), 0, 0, 0);
	} else {
		tid = raw_clone(SYS_clone, flags, (long)(stack + stack_size),
				(long)&ptid, (long)&ctid, (long)tp);
	}
	EXPECT(!sigprocmask(SIG_SETMASK, &saved, NULL));
	if (tid <= 0)
		FAIL("%s: raw clone from outside libc: %ld", how, tid);
	if (process) {
		EXPECT(waitpid((pid_t)tid, &st, 0) == tid);
		EXPECT(WIFEXITED(st));
		st = WEXITSTATUS(st);
	} else {
		EXPECT(ptid == tid);
		/* CLONE_CHILD_CLEARTID: 0 and a wake-up when it is gone */
		while (ctid != 0) {
			pid_t v = ctid;

			if (v)
				syscall(SYS_futex, &ctid, FUTEX_WAIT, v, NULL,
					NULL, 0);
		}
	}
	printf("# %s: task %ld: munmap %ld, madvise %ld, exit status %d\n",
	       how, tid, sud_munmap_ret, sud_madvise_ret, st);
	if (strcmp(how, "fork-stack")) { /* what a CLONE_VM child wrote */
		EXPECT(sud_munmap_ret == 0);
		EXPECT(sud_madvise_ret == 0);
		EXPECT(advise_zeroed);
		EXPECT(child_r12 == MAGIC_R12);
		EXPECT(child_r13 == MAGIC_R13);
		EXPECT(child_rsp == expected_rsp);
		EXPECT(!memcmp(child_xmm8, xmm_pattern, 16));
		EXPECT(mask_ok);
	}
	if (process)
		EXPECT(st == 0); /* 1 calls, 2 registers, 4 not armed */
#ifndef SUD_NO_UMN
	if (strcmp(how, "fork-stack")) {
		printf("# %s: %lu trap(s) at the register-number site\n", how,
		       umn__test_sud_traps(sud_reg_insn) - traps_before);
		EXPECT(umn__test_sud_traps(sud_reg_insn) - traps_before == 2);
	}
	if (!process) { /* a fork child reports to its own umn_mm_self() */
		sud_expect_reported(true);
	}
#endif
	if (!strcmp(how, "fork-stack"))
		EXPECT(!munmap(sud_unmap_page, (size_t)sud_page));
	EXPECT(!munmap(sud_advise_page, (size_t)sud_page));
	EXPECT(!munmap(stack, stack_size));
}

#ifndef SUD_NO_UMN
/* A raw fork or vfork from outside libc (nr 0: libc's fork(), whose
 * child the kernel starts unarmed too): the child is armed (its
 * register-number munmap traps) and has a fresh umn_mm_self() of its
 * own, where a subscription of its own sees that munmap. */
static const char *fork_name(long nr)
{
	return !nr ? "libc fork" : nr == SYS_fork ? "raw fork" : "raw vfork";
}

/* A registration cache on umn_mm_self(), with a dummy registration that
 * counts (a fork child counts in its own copy). */
static unsigned long regs;

static int count_reg(void *ctx, struct umn_regcache_region *region)
{
	(void)ctx;
	(void)region;
	regs++;
	return 0;
}

static void no_dereg(void *ctx, struct umn_regcache_region *region)
{
	(void)ctx;
	(void)region;
}

static const struct umn_regcache_ops count_ops = {
	.reg = count_reg,
	.dereg = no_dereg,
};

/* The child's cache must be empty: 0 regions, and p is a miss (one more
 * registration).  0 if so, else the exit code to report. */
static int child_cache_empty(struct umn_regcache *rc, char *p)
{
	struct umn_regcache_stats st;
	struct umn_regcache_region *r;
	unsigned long before = regs;

	if (umn_regcache_stats(rc, &st) || st.regions != 0)
		return 7; /* the parent's region is still cached */
	if (umn_regcache_get(rc, (unsigned long)p, (unsigned long)sud_page,
			     &r))
		return 8;
	umn_regcache_put(rc, r);
	return regs == before + 1 ? 0 : 9; /* a hit on the parent's */
}

static void fork_case(long nr, struct umn_mm *parent_mm)
{
	char *p = mmap(NULL, (size_t)sud_page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct umn_regcache_params params = { .ops = &count_ops };
	struct umn_regcache *rc = umn_regcache_new(parent_mm, &params);
	struct umn_regcache_region *r;
	long pid;
	int st;

	EXPECT(p != MAP_FAILED);
	EXPECT(rc != NULL);
	EXPECT(!umn_regcache_get(rc, (unsigned long)p,
				 (unsigned long)sud_page, &r));
	umn_regcache_put(rc, r);
	pid = nr ? sud_reg_syscall(nr, 0, 0, 0) : fork();
	if (pid == 0) {
		struct umn_notifier sub = { .ops = &sud_ev_ops };
		struct umn_mm *mm = umn_mm_self();
		unsigned long traps = umn__test_sud_traps(sud_reg_insn);
		int code = child_cache_empty(rc, p);

		sud_nev = 0;
		if (!code) {
			if (!mm || mm == parent_mm)
				code = 2;
			else if (umn_notifier_register(&sub, mm))
				code = 3;
			else if (sud_reg_syscall(SYS_munmap, (long)p,
						 sud_page, 0))
				code = 4;
			else if (umn__test_sud_traps(sud_reg_insn) - traps != 1)
				code = 5; /* not armed */
			else if (!sud_ev_seen(UMN_NOTIFY_UNMAP,
					      (unsigned long)p,
					      (unsigned long)p +
					      (unsigned long)sud_page, true))
				code = 6;
		}
		_exit(code);
	}
	if (pid < 0)
		FAIL("%s: %ld", fork_name(nr), pid);
	EXPECT(waitpid((pid_t)pid, &st, 0) == pid);
	printf("# %s: child exit %d (0: empty caches, armed, fresh self "
	       "mm, reported)\n", fork_name(nr),
	       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	EXPECT(!munmap(p, (size_t)sud_page));
	EXPECT(umn_regcache_destroy(rc) == 0);
}
#endif

#ifndef SUD_NO_UMN
/* What the emulation refuses (doc/sources.md), each before any child
 * exists: a child would run child_main and the check would fail. */
static void refusals(void)
{
	size_t stack_size = 64 << 10;
	char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	struct {
		struct clone3_args a;
		uint64_t set_tid, set_tid_size, cgroup, newer[4];
	} big;
	struct clone3_args a = {
		.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			 CLONE_THREAD | CLONE_SYSVSEM,
		.stack = (uintptr_t)stack,
		.stack_size = 256, /* smaller than the child's frame */
	};
	long r;

	EXPECT(stack != MAP_FAILED);
	r = raw_clone(SYS_clone3, (long)&a, sizeof(a), 0, 0, 0);
	printf("# clone3, a 256-byte stack: %ld\n", r);
	EXPECT(r == -EINVAL);
	r = raw_clone(SYS_clone3, (long)sud_page, sizeof(a), 0, 0, 0);
	printf("# clone3, a bad pointer: %ld\n", r);
	EXPECT(r == -EFAULT);
	/* a newer, larger struct: fields umn does not know must be 0 (a
	 * zero tail is accepted, as the kernel does: "clone3-big") */
	memset(&big, 0, sizeof(big));
	big.a = a;
	big.a.stack_size = stack_size;
	big.newer[1] = 1;
	r = raw_clone(SYS_clone3, (long)&big, sizeof(big), 0, 0, 0);
	printf("# clone3, a %zu-byte struct, a field past cgroup set: %ld\n",
	       sizeof(big), r);
	EXPECT(r == -E2BIG);
	/* fork-like, with a thread pointer of its own */
	r = raw_clone(SYS_clone, CLONE_SETTLS | SIGCHLD, 0, 0, 0,
		      (long)stack);
	printf("# clone(CLONE_SETTLS) without CLONE_VM: %ld\n", r);
	EXPECT(r == -ENOSYS);
	EXPECT(!munmap(stack, stack_size));
}
#endif

int main(void)
{
	sud_start();
#ifndef SUD_NO_UMN
	struct umn_notifier sub = { .ops = &sud_ev_ops };
	struct umn_mm *mm = sud_subscribe(&sub);
#endif
	clone_case("clone");
	clone_case("clone3");
	clone_case("clone3-big");
	clone_case("clone-no-tls");
	clone_case("vfork-stack");
#ifndef SUD_NO_UMN
	/* Not under `umn trace`: a fork child made without libc runs no
	 * pthread_atfork handler, so the trace preload never subscribes in
	 * it and the audit counts its calls missed (doc/sources.md). */
	clone_case("fork-stack");
#endif
#ifndef SUD_NO_UMN
	fork_case(SYS_fork, mm);
	fork_case(SYS_vfork, mm);
	fork_case(0, mm);
	refusals();
	EXPECT(umn_notifier_unregister(&sub, mm) == 0);
#endif
	printf("ok - sud_clone\n");
	return 0;
}
