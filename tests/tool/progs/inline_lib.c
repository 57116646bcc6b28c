/* SPDX-License-Identifier: MIT */
/* Loaded with dlopen by inline.c: inline system calls in a library that
 * was not there when umn started. */
#include <string.h>
#include <sys/mman.h>
#include "inline_sys.h"

int inline_lib_calls(long page);

int inline_lib_calls(long page)
{
	char *p = mmap(NULL, 4 * (size_t)page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	memset(p, 1, 4 * (size_t)page);
	if (inl_madvise(p, (unsigned long)page, MADV_DONTNEED) ||
	    inl_mprotect(p + page, (unsigned long)page, PROT_READ) ||
	    inl_munmap(p + 2 * page, (unsigned long)page) ||
	    inl_munmap_rax(p, (unsigned long)page * 2))
		return -1;
	return inl_munmap(p + 3 * page, (unsigned long)page) ? -1 : 0;
}
