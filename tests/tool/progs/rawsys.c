/* SPDX-License-Identifier: MIT */
/*
 * A munmap made by an inline system call instruction, outside libc, whose
 * number is in a register loaded from memory at run time: site discovery
 * patches only sites with a fixed number (`mov $NR,%eax; syscall`), so no
 * source sees it and `umn trace --audit` must report it missed (the
 * oracle's own test: a call without an event is not matched).
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* volatile: the compiler may not turn the load into `mov $11,%eax` */
static volatile long munmap_nr = SYS_munmap;

static long raw_munmap(void *addr, size_t len)
{
	long ret, nr = munmap_nr;
#if defined(__x86_64__)
	register long a0 __asm__("rdi") = (long)addr;
	register long a1 __asm__("rsi") = (long)len;

	__asm__ volatile("syscall" : "=a"(ret)
			 : "0"(nr), "r"(a0), "r"(a1)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = (long)addr;
	register long x1 __asm__("x1") = (long)len;

	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
	ret = x0;
#else
	ret = syscall(nr, addr, len);
#endif
	return ret;
}

int main(void)
{
	size_t len = 5 * (size_t)sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	memset(p, 1, len);
	if (raw_munmap(p, len) != 0)
		return 1;
	printf("rawsys: done %p\n", (void *)p);
	return 0;
}
