/* SPDX-License-Identifier: MIT */
/*
 * System calls made by inline `syscall` instructions with fixed numbers
 * (no libc wrapper): what the Go runtime, static runtimes and custom
 * allocators do.  Both shapes site discovery patches: `mov $NR,%eax`
 * (5 bytes) and `mov $NR,%rax` (7 bytes) right before `syscall`.
 *
 * Each `mov` starts a 16-byte block (.p2align 4): the patch engine writes
 * its 5-byte jump atomically only where the first two bytes share a block,
 * so a site at the last byte of one cannot be patched (listed under
 * UMN_SELF_DEBUG=1 as failed, and reported missed by the audit).  Without
 * the alignment, whether a site lands there depends on the optimiser: a
 * Release build put one at offset 15.
 */
#ifndef UMN_TEST_INLINE_SYS_H
#define UMN_TEST_INLINE_SYS_H

static inline long inl_munmap(void *a, unsigned long n)
{
	long r;

	__asm__ volatile(".p2align 4\n\tmov $11,%%eax\n\tsyscall"
			 : "=a"(r) : "D"(a), "S"(n) : "rcx", "r11", "memory");
	return r;
}

static inline long inl_munmap_rax(void *a, unsigned long n)
{
	long r;

	__asm__ volatile(".p2align 4\n\tmovq $11,%%rax\n\tsyscall"
			 : "=a"(r) : "D"(a), "S"(n) : "rcx", "r11", "memory");
	return r;
}

static inline long inl_madvise(void *a, unsigned long n, long advice)
{
	long r;

	__asm__ volatile(".p2align 4\n\tmov $28,%%eax\n\tsyscall"
			 : "=a"(r) : "D"(a), "S"(n), "d"(advice)
			 : "rcx", "r11", "memory");
	return r;
}

static inline long inl_mprotect(void *a, unsigned long n, long prot)
{
	long r;

	__asm__ volatile(".p2align 4\n\tmovq $10,%%rax\n\tsyscall"
			 : "=a"(r) : "D"(a), "S"(n), "d"(prot)
			 : "rcx", "r11", "memory");
	return r;
}

static inline long inl_mremap(void *a, unsigned long o, unsigned long n,
			      long flags)
{
	register long r10 __asm__("r10") = flags;
	long r;

	__asm__ volatile(".p2align 4\n\tmov $25,%%eax\n\tsyscall"
			 : "=a"(r) : "D"(a), "S"(o), "d"(n), "r"(r10)
			 : "rcx", "r11", "memory");
	return r;
}

#endif
