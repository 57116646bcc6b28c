/* SPDX-License-Identifier: MIT */
/*
 * The safety net (sud.c) and new threads made without libc: clone, clone3,
 * fork and vfork issued by a `syscall` outside the allowed range trap into
 * the SIGSYS handler, which runs them here so that the child starts armed.
 * The kernel clears Syscall User Dispatch in every new task (threads and
 * fork children alike), so a child that ran the user's code first would
 * make its system calls untrapped.
 *
 * A child with a stack of its own (newsp != 0, CLONE_VM): before the call
 * the parent writes, below newsp (memory the caller gave the child, which
 * nothing uses yet), a signal frame for rt_sigreturn: a copy of the
 * interrupted context (general registers with rax = 0 and rsp = newsp, the
 * signal mask, the FPU/SSE/AVX state) and, below it, the address of
 * child_entry.  The call is made by libc's `syscall; ret` pair with all
 * signals blocked; the parent's `ret` comes back here, the child's pops
 * child_entry from its new stack.  child_entry arms the net on the child
 * (prctl, with the process-wide selector byte, so it does not depend on
 * the child's thread pointer: no CLONE_SETTLS, a shared one or one umn's
 * thread-locals know nothing of) and issues rt_sigreturn from libc's text,
 * which restores every register and the mask in one step and resumes the
 * user's code after its `syscall` with rax = 0.  The child touches no
 * thread-local and no memory of the parent's handler, so the parent does
 * not wait for it: everything it needs was copied before it existed.
 *
 * A child without CLONE_VM (fork, and clone/clone3 without it): made with
 * no new stack, so it returns here, on its own copy of the handler's
 * stack, like fork() called in a handler.  It arms the net, takes umn's
 * fork-child state (self.c: a fresh umn_mm_self(), no stack-pool slot
 * held), and returns from the handler with rax = 0; its stack pointer is
 * set to newsp when the caller gave one.  CLONE_SETTLS is refused there
 * (ENOSYS): the child would run umn's code with a thread pointer that is
 * not its parent's.  vfork, and clone with CLONE_VM|CLONE_VFORK and no
 * stack, run as fork with CLONE_VFORK kept (the parent still waits for the
 * child's exec or exit; memory is copied, not shared, as under qemu-user):
 * a vfork child runs on its parent's stack, which would overwrite the
 * parent's handler frame.  CLONE_VM without a stack and without
 * CLONE_VFORK (two threads on one stack) is refused with ENOSYS.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <ucontext.h>
#include "entry_asm.h"
#include "regcache/regcache_fork.h"
#include "self_internal.h"

#if defined(__x86_64__)

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#endif

/* clone3's argument block up to cgroup (CLONE_ARGS_SIZE_VER2). */
struct sud_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#define CLONE_ARGS_SIZE_VER0 64
#define CLONE3_READ_MAX 256 /* a larger struct: E2BIG (limit) */

/* The kernel's struct ucontext up to and with uc_sigmask: what
 * rt_sigreturn reads (glibc's ucontext_t starts with the same fields). */
#define KERNEL_UC_SIZE 304
/* struct _fpx_sw_bytes, at byte 464 of the fxsave area: how big the
 * xsave area of a signal frame is. */
#define FP_SW_BYTES 464
#define SUD_FP_XSTATE_MAGIC1 0x46505853u
#define FXSAVE_SIZE 512

/* Read by the assembly below. */
struct sud_clone_call {
	long nr, a[6];         /* the system call to make */
	uintptr_t frame;       /* the child's signal frame (0: no new stack) */
	uintptr_t gadget;      /* libc's `syscall; ret` */
	long arm[3];           /* prctl: start, length, selector */
};

/* Children whose prctl failed and run unarmed (for a debugger: the same
 * arguments succeeded in the parent, so it is not expected). */
__attribute__((visibility("hidden"))) unsigned long umnp_self_sud_clone_unarmed;

long umnp_self_sud_clone_raw(const struct sud_clone_call *c);
void umnp_self_sud_clone_child(void);

/*
 * umnp_self_sud_clone_raw(c): rbx = c->frame, r12-r14 = c->arm, r15 =
 * c->gadget survive the system call in both tasks.  The parent, and a
 * child on this stack, come back through the gadget's `ret`.
 */
__asm__(UMNP_ASM_FUNC_BEGIN(umnp_self_sud_clone_raw)
	"	push %rbx\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	mov %rdi,%r11\n"
	"	mov 56(%r11),%rbx\n"
	"	mov 64(%r11),%r15\n"
	"	mov 72(%r11),%r12\n"
	"	mov 80(%r11),%r13\n"
	"	mov 88(%r11),%r14\n"
	"	mov 0(%r11),%rax\n"
	"	mov 8(%r11),%rdi\n"
	"	mov 16(%r11),%rsi\n"
	"	mov 24(%r11),%rdx\n"
	"	mov 32(%r11),%r10\n"
	"	mov 40(%r11),%r8\n"
	"	mov 48(%r11),%r9\n"
	"	call *%r15\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbx\n"
	"	ret\n"
	UMNP_ASM_FUNC_END(umnp_self_sud_clone_raw)
	/* The new thread, on its own stack, all signals blocked: arm the
	 * net, then rt_sigreturn on the frame at rbx.  No thread-local, no
	 * memory of the parent's. */
	UMNP_ASM_FUNC_BEGIN(umnp_self_sud_clone_child)
	"	mov $" UMNP_ASM_STR(SYS_prctl) ",%eax\n"
	"	mov $" UMNP_ASM_STR(PR_SET_SYSCALL_USER_DISPATCH) ",%edi\n"
	"	mov $" UMNP_ASM_STR(PR_SYS_DISPATCH_ON) ",%esi\n"
	"	mov %r12,%rdx\n"
	"	mov %r13,%r10\n"
	"	mov %r14,%r8\n"
	"	xor %r9d,%r9d\n"
	"	call *%r15\n"
	"	test %rax,%rax\n"
	"	jz 1f\n"
	"	lock incq umnp_self_sud_clone_unarmed(%rip)\n"
	"1:	mov %rbx,%rsp\n"
	"	mov $" UMNP_ASM_STR(SYS_rt_sigreturn) ",%eax\n"
	"	jmp *%r15\n"
	UMNP_ASM_FUNC_END(umnp_self_sud_clone_child));

_Static_assert(offsetof(struct sud_clone_call, frame) == 56, "asm offsets");
_Static_assert(offsetof(struct sud_clone_call, gadget) == 64, "asm offsets");
_Static_assert(offsetof(struct sud_clone_call, arm) == 72, "asm offsets");

/* Bytes of the user's stack below newsp the child's frame takes. */
static size_t fp_size(const ucontext_t *uc)
{
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	uint32_t magic, ext;

	if (!fp)
		return 0;
	memcpy(&magic, fp + FP_SW_BYTES, 4);
	memcpy(&ext, fp + FP_SW_BYTES + 4, 4);
	return magic == SUD_FP_XSTATE_MAGIC1 && ext > FXSAVE_SIZE ?
	       ext : FXSAVE_SIZE;
}

/* Where the child starts: [sp] = child_entry, the frame above it. */
static uintptr_t child_sp(const ucontext_t *uc, uintptr_t newsp,
			  uintptr_t *fp_dst, uintptr_t *uc_dst)
{
	*fp_dst = (newsp - fp_size(uc)) & ~(uintptr_t)63; /* xrstor */
	*uc_dst = (*fp_dst - KERNEL_UC_SIZE) & ~(uintptr_t)15;
	/* 8 bytes for rt_sigreturn's frame (its return address), scratch
	 * for the child's call of the gadget, then child_entry */
	return (*uc_dst - 64) & ~(uintptr_t)15;
}

/*
 * Write the child's rt_sigreturn frame below newsp from the interrupted
 * context uc (see child_sp).  Returns the stack pointer to start the child
 * with; *frame: the frame (rsp at rt_sigreturn).
 */
static uintptr_t child_frame(const ucontext_t *uc, uintptr_t newsp,
			     bool own_altstack, uintptr_t *frame)
{
	const void *fp = uc->uc_mcontext.fpregs;
	uintptr_t fp_dst, uc_dst, sp = child_sp(uc, newsp, &fp_dst, &uc_dst);
	ucontext_t *cuc = (ucontext_t *)uc_dst;

	if (fp)
		memcpy((void *)fp_dst, fp, fp_size(uc));
	memcpy(cuc, uc, KERNEL_UC_SIZE);
	cuc->uc_link = NULL;
	cuc->uc_mcontext.fpregs = fp ? (fpregset_t)fp_dst : NULL;
	cuc->uc_mcontext.gregs[REG_RAX] = 0;
	cuc->uc_mcontext.gregs[REG_RSP] = (greg_t)newsp;
	if (own_altstack) {
		/* the kernel gave the new thread no alternate stack */
		cuc->uc_stack.ss_sp = NULL;
		cuc->uc_stack.ss_size = 0;
		cuc->uc_stack.ss_flags = SS_DISABLE;
	}
	*(uintptr_t *)sp = (uintptr_t)umnp_self_sud_clone_child;
	*frame = uc_dst;
	return sp;
}

long umnp_self_sud_clone(ucontext_t *uc, long nr, const long a[6],
			 uintptr_t gadget, const long arm[3])
{
	struct sud_clone_call c = { .nr = nr, .gadget = gadget };
	struct sud_clone_args args;
	uint64_t flags, all = ~0ull, old;
	uintptr_t newsp;
	size_t size = 0;
	bool fork_like;
	long r;

	memcpy(c.arm, arm, sizeof(c.arm));
	switch (nr) {
	case SYS_fork:
		flags = SIGCHLD;
		newsp = 0;
		break;
	case SYS_vfork:
		flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
		newsp = 0;
		break;
	case SYS_clone:
		flags = (uint64_t)a[0];
		newsp = (uintptr_t)a[1];
		break;
	case SYS_clone3: {
		/* the struct and what a newer one may add (must be zero) */
		uint8_t raw[CLONE3_READ_MAX];

		size = (size_t)a[1];
		if (size < CLONE_ARGS_SIZE_VER0)
			return -EINVAL;
		if (size > sizeof(raw))
			return -E2BIG; /* not read (limit) */
		/* copied so that a bad pointer is EFAULT, not a crash */
		if (!umnp_self_copy_in(raw, (const void *)a[0], size))
			return -EFAULT;
		for (size_t i = sizeof(args); i < size; i++)
			if (raw[i])
				return -E2BIG; /* fields umn does not know */
		memset(&args, 0, sizeof(args));
		memcpy(&args, raw, size < sizeof(args) ? size : sizeof(args));
		if (size > sizeof(args))
			size = sizeof(args);
		flags = args.flags;
		newsp = args.stack ? (uintptr_t)(args.stack + args.stack_size)
				   : 0;
		break;
	}
	default:
		return -ENOSYS;
	}
	if (!newsp && (flags & CLONE_VM)) {
		if (!(flags & CLONE_VFORK))
			return -ENOSYS; /* two threads on one stack */
		flags &= ~(uint64_t)CLONE_VM; /* vfork runs as fork */
	}
	if (!(flags & CLONE_VM) && (flags & CLONE_SETTLS))
		return -ENOSYS;

	/* The call to make. */
	if (nr == SYS_clone3) {
		args.flags = flags;
		c.a[0] = (long)&args;
		c.a[1] = (long)size;
	} else {
		c.nr = SYS_clone;
		c.a[0] = (long)flags;
		c.a[1] = 0;
		c.a[2] = nr == SYS_clone ? a[2] : 0; /* parent_tid */
		c.a[3] = nr == SYS_clone ? a[3] : 0; /* child_tid */
		c.a[4] = nr == SYS_clone ? a[4] : 0; /* tls */
	}
	if (flags & CLONE_VM) {
		uintptr_t sp, fp_dst, uc_dst;

		/* clone3 says how big the stack is: the frame must fit */
		if (nr == SYS_clone3 &&
		    child_sp(uc, newsp, &fp_dst, &uc_dst) <= args.stack)
			return -EINVAL;
		sp = child_frame(uc, newsp, !(flags & CLONE_VFORK), &c.frame);

		if (nr == SYS_clone3)
			args.stack_size = sp - args.stack;
		else
			c.a[1] = (long)sp;
	} else if (nr == SYS_clone3) {
		args.stack = 0; /* the child comes back here */
		args.stack_size = 0;
	}

	/* The child starts with every signal blocked; rt_sigreturn (or the
	 * handler's return) gives it the interrupted mask. */
	/* A fork-like child gets empty registration caches, as after
	 * libc's fork(): their locks are taken here, released on both
	 * sides (the caches are reset in the child). */
	fork_like = !(flags & CLONE_VM) && umnp_regcache_fork_prepare;
	if (fork_like)
		umnp_regcache_fork_prepare();
	umnp_self_raw6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all,
		       (long)&old, 8, 0, 0);
	r = umnp_self_sud_clone_raw(&c);
	if (r == 0) {
		/* the child of a clone without CLONE_VM, on its copy of this
		 * stack (a CLONE_VM child never comes back here) */
		umnp_self_sud_arm_thread();
		umnp_self_fork_child();
		if (fork_like)
			umnp_regcache_fork_child();
		if (newsp)
			uc->uc_mcontext.gregs[REG_RSP] = (greg_t)newsp;
	} else if (fork_like) {
		umnp_regcache_fork_parent();
	}
	umnp_self_raw6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8, 0,
		       0);
	return r;
}

#endif
