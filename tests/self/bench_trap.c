/* SPDX-License-Identifier: MIT */
/*
 * What trapping a system call costs (doc/sources.md, the safety net):
 * getppid() made by a `syscall` instruction outside an allowed range, (1)
 * directly, (2) under Syscall User Dispatch, (3) under a seccomp filter
 * returning SECCOMP_RET_TRAP on the instruction pointer (in a child: the
 * filter cannot be removed).  In (2) and (3) a SIGSYS handler makes the
 * call from the allowed range and returns its result, as umn's safety net
 * does.  Not a test.  Usage: bench_trap [CALLS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_OFF 0
#define PR_SYS_DISPATCH_ON 1
#define SYSCALL_DISPATCH_FILTER_ALLOW 0
#define SYSCALL_DISPATCH_FILTER_BLOCK 1
#endif

/* the allowed range: one `syscall; ret` */
long allowed_sys(long nr, long a1, long a2, long a3);
__asm__(".text\n.p2align 6\n.globl allowed_sys\nallowed_sys:\n"
	"	mov %rdi,%rax\n	mov %rsi,%rdi\n	mov %rdx,%rsi\n"
	"	mov %rcx,%rdx\n	syscall\n	ret\n"
	".globl allowed_restorer\nallowed_restorer:\n"
	"	mov $15,%eax\n	syscall\n	ud2\n"
	".globl allowed_end\nallowed_end:\n");
extern char allowed_end[], allowed_restorer[];

/* The handler returns through a rt_sigreturn in the allowed range (libc's
 * restorer is outside it and would trap). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static long __attribute__((noinline)) outside_getppid(void)
{
	long r;

	__asm__ volatile("mov $110,%%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11",
			 "memory");
	return r;
}

static volatile char selector = SYSCALL_DISPATCH_FILTER_ALLOW;

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *g = uc->uc_mcontext.gregs;

	(void)sig;
	g[REG_RAX] = allowed_sys(si->si_syscall, g[REG_RDI], g[REG_RSI],
				 g[REG_RDX]);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static double run(long calls, long expect)
{
	double t0 = now();

	for (long i = 0; i < calls; i++)
		if (outside_getppid() != expect) {
			fprintf(stderr, "bench_trap: wrong result\n");
			exit(1);
		}
	return (now() - t0) / calls;
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? atol(argv[1]) : 200000;
	long ppid = getppid();
	struct sigaction sa;
	double direct, sud, sec;
	pid_t pid;
	int st;

	struct ksigaction ks = { (void *)on_sigsys,
				 SA_SIGINFO | 0x04000000 /* SA_RESTORER */,
				 allowed_restorer, 0 };

	(void)sa;
	if (syscall(SYS_rt_sigaction, SIGSYS, &ks, NULL, 8))
		return 1;
	direct = run(calls, ppid);

	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
		  (unsigned long)allowed_sys,
		  (unsigned long)(allowed_end - (char *)allowed_sys),
		  &selector)) {
		printf("syscall user dispatch: unavailable (%s)\n",
		       strerror(errno));
		sud = 0;
	} else {
		selector = SYSCALL_DISPATCH_FILTER_BLOCK;
		sud = run(calls, ppid);
		selector = SYSCALL_DISPATCH_FILTER_ALLOW;
		prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0,
		      0);
	}

	pid = fork();
	if (pid == 0) {
		uint64_t lo = (uintptr_t)allowed_sys;
		uint64_t hi = (uintptr_t)allowed_end;
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
				 offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 6),
			/* same upper half and lo <= ip < hi (lower half) */
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
				 offsetof(struct seccomp_data,
					  instruction_pointer) + 4),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(lo >> 32),
				 0, 3),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
				 offsetof(struct seccomp_data,
					  instruction_pointer)),
			BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)hi, 1, 0),
			BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)lo, 1, 0),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
		long me = getppid();
		double t;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
			printf("seccomp: unavailable (%s)\n", strerror(errno));
			_exit(0);
		}
		t = run(calls, me);
		printf("%.0f\n", t);
		fflush(stdout);
		_exit(0);
	}
	fflush(stdout);
	printf("direct getppid:                   %.0f ns\n", direct);
	printf("syscall user dispatch, trapped:   %.0f ns\n", sud);
	printf("seccomp RET_TRAP on ip, trapped:  ");
	fflush(stdout);
	waitpid(pid, &st, 0);
	(void)sec;
	return 0;
}
