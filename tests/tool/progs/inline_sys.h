/* SPDX-License-Identifier: MIT */
/*
 * System calls made by inline `syscall` instructions with fixed numbers
 * (no libc wrapper): what the Go runtime, static runtimes and custom
 * allocators do.  Both shapes site discovery patches: `mov $NR,%eax`
 * (5 bytes) and `mov $NR,%rax` (7 bytes) right before `syscall`.
 */
#ifndef UMN_TEST_INLINE_SYS_H
#define UMN_TEST_INLINE_SYS_H

static inline long inl_munmap(void *a, unsigned long n)
{
	long r;

	__asm__ volatile("mov $11,%%eax\n\tsyscall"
			 : "=a"(r) : "D"(a), "S"(n) : "rcx", "r11", "memory");
	return r;
}

static inline long inl_munmap_rax(void *a, unsigned long n)
{
	long r;

	__asm__ volatile("movq $11,%%rax\n\tsyscall"
			 : "=a"(r) : "D"(a), "S"(n) : "rcx", "r11", "memory");
	return r;
}

static inline long inl_madvise(void *a, unsigned long n, long advice)
{
	long r;

	__asm__ volatile("mov $28,%%eax\n\tsyscall"
			 : "=a"(r) : "D"(a), "S"(n), "d"(advice)
			 : "rcx", "r11", "memory");
	return r;
}

static inline long inl_mprotect(void *a, unsigned long n, long prot)
{
	long r;

	__asm__ volatile("movq $10,%%rax\n\tsyscall"
			 : "=a"(r) : "D"(a), "S"(n), "d"(prot)
			 : "rcx", "r11", "memory");
	return r;
}

static inline long inl_mremap(void *a, unsigned long o, unsigned long n,
			      long flags)
{
	register long r10 __asm__("r10") = flags;
	long r;

	__asm__ volatile("mov $25,%%eax\n\tsyscall"
			 : "=a"(r) : "D"(a), "S"(o), "d"(n), "r"(r10)
			 : "rcx", "r11", "memory");
	return r;
}

#endif
