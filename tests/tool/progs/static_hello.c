/* SPDX-License-Identifier: MIT */
/* Linked with -static: no PT_INTERP, so no preload library can be loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(void)
{
	void *p = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	munmap(p, 1 << 16);
	printf("static_hello\n");
	return 0;
}
