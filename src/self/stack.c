/* SPDX-License-Identifier: MIT */
/*
 * The entry of discovered system-call sites (discover.c), and the stacks
 * the hooks run on there.
 *
 * A site in libc's wrappers runs on a C stack (megabytes).  A site found
 * anywhere else may run on a stack umn knows nothing about: a Go
 * goroutine's stack is a few KiB and cannot grow under foreign code, a
 * green thread's or a coroutine's may be smaller still.  The hooks (the
 * core, the subscribers' callbacks, the /proc/self/maps scan of shmdt with
 * its 4 KiB buffer) must not run there.  So the entry of discovered sites
 * moves to a stack of umn's own before it touches memory below the
 * caller's stack pointer, as Go's cgo moves to the system stack:
 *
 *   - a pool of STACK_SLOTS stacks of STACK_SIZE bytes is mapped once, at
 *     init, MAP_NORESERVE: only pages a hook touches cost memory; the guard
 *     page at the bottom of a slot is made by the first call that runs on
 *     it (umnp_self_sys_ext, a few hundred bytes from the slot's top), not
 *     at init: 64 mprotects were a visible part of every process's start
 *     and most processes use one slot or none;
 *   - a slot is taken for the duration of one hooked call with one
 *     `lock bts` on a bitmap and given back with `lock btr` after the call
 *     (no thread-local state: it works on a thread made by a raw clone, or
 *     before a thread's TLS is set up); the entry uses only rcx and r11,
 *     which `syscall` clobbers anyway, until it is on the new stack, and
 *     writes nothing below the caller's stack pointer;
 *   - a call that is already on a pool stack (a signal handler interrupting
 *     a hook, a hooked call made by a callback) stays there; so does every
 *     call when the pool could not be mapped (then it skips the caller's
 *     128-byte red zone, as the libc entry does);
 *   - when all slots are taken the entry spins (`pause`) until one is
 *     given back: a slot is held only while one hooked call runs, and a
 *     hook never waits for a thread that has not entered one.
 *
 * umnp_self_rawsys is umn's only system-call instruction outside the
 * stubs (with the safety net armed it uses a `syscall; ret` pair in libc,
 * the range Syscall User Dispatch allows): the number arrives in a register, so umn's own code contains no
 * fixed-number site (in a static program it shares the executable with
 * the program, and discovery scans all of it).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include <umn/notifier.h>
#include "entry_asm.h"
#include "self_internal.h"

#if defined(__x86_64__)

#define STACK_SHIFT 18 /* 256 KiB per slot */
#define STACK_SIZE (1ul << STACK_SHIFT)
#define STACK_SLOTS 64 /* one bit each in stack_busy */

/* Read by the assembly entry; written once at init. */
__attribute__((visibility("hidden"))) uintptr_t umnp_self_stack_pool;
__attribute__((visibility("hidden"))) uint64_t umnp_self_stack_busy;
/* Slots whose guard page is made (C only). */
static uint64_t stack_guarded;

__asm__(UMNP_ASM_FUNC_BEGIN(umnp_self_rawsys)
	"	mov umnp_self_sud_gadget(%rip),%r11\n"
	"	mov %rdi,%rax\n"
	"	mov %rsi,%rdi\n"
	"	mov %rdx,%rsi\n"
	"	mov %rcx,%rdx\n"
	"	mov %r8,%r10\n"
	"	mov %r9,%r8\n"
	"	mov 8(%rsp),%r9\n"
	"	test %r11,%r11\n"
	"	jnz 1f\n"
	"	syscall\n"
	"	ret\n"
	"1:	jmp *%r11\n"             /* libc's `syscall; ret` (sud.c) */
	UMNP_ASM_FUNC_END(umnp_self_rawsys));

long umnp_self_sys_ext(const struct umnp_site_rec *rec, long nr, long a1,
		       long a2, long a3, long a4, long a5, long a6);

/*
 * In: rax = system call number, rdi rsi rdx r10 r8 r9 = arguments,
 *     r11 = struct umnp_site_rec *, rsp = the caller's stack.
 * Out: to rec->resume_syscall untouched (not a map-changing number), or
 *     to rec->resume_after with rax = umnp_self_sys_ext(rec, nr, args...).
 * Frame on the chosen stack, from rbp up: rbp, rax, r11, r9, r8, r10, rdx,
 * rsi, rdi, then a marker (1: switched, the caller's rsp above it; 0: same
 * stack, the red zone above it).
 */
__asm__(UMNP_ASM_FUNC_BEGIN(umnp_self_sysentry_ext)
	UMNP_ASM_IF_MAP_NR
	"	jmp *0(%r11)\n"
	"1:\n"
	"	mov umnp_self_stack_pool(%rip),%rcx\n"
	"	test %rcx,%rcx\n"
	"	jz 6f\n"                     /* no pool: this stack */
	"	neg %rcx\n"
	"	add %rsp,%rcx\n"             /* rsp - pool */
	"	cmp $(64 << 18),%rcx\n"
	"	jb 6f\n"                     /* already on a pool stack */
	"	xor %ecx,%ecx\n"
	"2:	lock bts %rcx,umnp_self_stack_busy(%rip)\n"
	"	jnc 3f\n"
	"	inc %ecx\n"
	"	cmp $64,%ecx\n"
	"	jb 2b\n"
	"	pause\n"
	"	xor %ecx,%ecx\n"
	"	jmp 2b\n"
	"3:	inc %rcx\n"
	"	shl $18,%rcx\n"
	"	add umnp_self_stack_pool(%rip),%rcx\n" /* top of the slot */
	"	mov %rsp,-8(%rcx)\n"
	"	lea -8(%rcx),%rsp\n"
	"	pushq $1\n"
	"	jmp 7f\n"
	"6:	lea -128(%rsp),%rsp\n"
	"	pushq $0\n"
	"7:\n"
	UMNP_ASM_SAVE_ARGS
	"	push %rax\n"
	"	push %rbp\n"
	"	mov %rsp,%rbp\n"
	"	and $-16,%rsp\n"
	"	pushq 24(%rbp)\n"            /* a6 */
	"	pushq 32(%rbp)\n"            /* a5 */
	"	mov 16(%rbp),%rdi\n"         /* rec */
	"	mov 8(%rbp),%rsi\n"          /* nr */
	"	mov 64(%rbp),%rdx\n"         /* a1 */
	"	mov 56(%rbp),%rcx\n"         /* a2 */
	"	mov 48(%rbp),%r8\n"          /* a3 */
	"	mov 40(%rbp),%r9\n"          /* a4 */
	"	call umnp_self_sys_ext\n"
	"	mov %rbp,%rsp\n"
	"	pop %rbp\n"
	"	lea 8(%rsp),%rsp\n"          /* the saved rax */
	UMNP_ASM_RESTORE_ARGS
	"	cmpq $0,(%rsp)\n"
	"	je 8f\n"
	"	lea 8(%rsp),%rsp\n"          /* at the saved caller rsp */
	"	mov %rsp,%rcx\n"
	"	sub umnp_self_stack_pool(%rip),%rcx\n"
	"	shr $18,%rcx\n"              /* the slot */
	"	mov (%rsp),%rsp\n"
	"	lock btr %rcx,umnp_self_stack_busy(%rip)\n"
	"	jmp *8(%r11)\n"
	"8:	lea 136(%rsp),%rsp\n"
	"	jmp *8(%r11)\n"
	UMNP_ASM_FUNC_END(umnp_self_sysentry_ext));

_Static_assert(STACK_SLOTS == 64 && STACK_SHIFT == 18,
	       "the assembly entry hard-codes 64 slots of 1 << 18 bytes");

long umnp_self_sys_ext(const struct umnp_site_rec *rec, long nr, long a1,
		       long a2, long a3, long a4, long a5, long a6)
{
	const long a[6] = { a1, a2, a3, a4, a5, a6 };
	uintptr_t pool = __atomic_load_n(&umnp_self_stack_pool,
					 __ATOMIC_RELAXED);
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	long r;

	/* On a slot whose guard page is not made yet: make it before the
	 * hooks go deep.  A slot is one thread's at a time; a nested call
	 * (a signal handler) at worst makes it twice. */
	if (pool && here - pool < STACK_SLOTS * STACK_SIZE) {
		unsigned long slot = (here - pool) >> STACK_SHIFT;

		const long g[6] = { (long)(pool + slot * STACK_SIZE),
				    (long)UMNP_SELF_PAGE, PROT_NONE, 0, 0, 0 };

		/* through the hooks: a protection change like any other */
		if (!(__atomic_load_n(&stack_guarded, __ATOMIC_RELAXED) &
		      (1ull << slot)) &&
		    !umnp_self_is_err(umnp_self_call(UMN_ORIGIN_PATCH,
						     SYS_mprotect, g, NULL,
						     NULL)))
			__atomic_fetch_or(&stack_guarded, 1ull << slot,
					  __ATOMIC_RELAXED);
	}
	r = umnp_self_call(UMN_ORIGIN_PATCH, nr, a, NULL, NULL);

	/* The loader mapped or protected something: a new object may be
	 * complete (its RELRO is protected after relocation, before its
	 * constructors run).  Never from inside a hook. */
	if ((rec->flags & UMNP_SITE_LOADER) && !umnp_self_in_hook() &&
	    !umnp_self_is_err(r))
		umnp_self_discover_rescan();
	return r;
}

/* fork child: the threads that held slots do not exist here; their bits
 * would never be cleared (a nested entry on the forking thread's own slot
 * stays on it without taking a bit). */
void umnp_self_stack_atfork_child(void)
{
	__atomic_store_n(&umnp_self_stack_busy, 0, __ATOMIC_RELAXED);
}

int umnp_self_stack_init(void)
{
	long p;

	if (__atomic_load_n(&umnp_self_stack_pool, __ATOMIC_ACQUIRE))
		return 0;
	p = umnp_self_raw6(SYS_mmap, 0, (long)(STACK_SLOTS * STACK_SIZE),
			   PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				   MAP_STACK,
			   -1, 0);
	if (umnp_self_is_err(p))
		return (int)p;
	__atomic_store_n(&umnp_self_stack_pool, (uintptr_t)p, __ATOMIC_RELEASE);
	return 0;
}

#else /* !__x86_64__ */

#include <sys/syscall.h>

long umnp_self_rawsys(long nr, long a1, long a2, long a3, long a4, long a5,
		      long a6)
{
	long r = syscall(nr, a1, a2, a3, a4, a5, a6);

	return r == -1 ? -(long)errno : r;
}

int umnp_self_stack_init(void)
{
	return -ENOTSUP;
}

void umnp_self_stack_atfork_child(void)
{
}

#endif
