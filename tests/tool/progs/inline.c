/* SPDX-License-Identifier: MIT */
/*
 * Inline `syscall` instructions with fixed numbers (munmap, madvise,
 * mprotect, mremap), in the executable and in a library loaded with dlopen
 * after umn started, from two threads; and one munmap made on a 1 KiB
 * stack (ucontext), as a Go goroutine's, where the hooks must not run.
 * Used by tests/tool with `umn trace --audit`: every call must have its
 * umn event (site discovery).
 * Usage: inline LIBRARY [ROUNDS]
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include "inline_sys.h"

static long page;
static int rounds = 3;

#define DIE(what)                                                        \
	do {                                                             \
		fprintf(stderr, "inline: %s failed (line %d)\n", what,   \
			__LINE__);                                       \
		exit(1);                                                 \
	} while (0)

static char *map(size_t pages)
{
	char *p = mmap(NULL, pages * (size_t)page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		DIE("mmap");
	memset(p, 0x5a, pages * (size_t)page);
	return p;
}

static void exe_calls(void)
{
	for (int r = 0; r < rounds; r++) {
		char *p = map(6), *q;

		if (inl_madvise(p, (unsigned long)page, MADV_DONTNEED))
			DIE("madvise");
		if (inl_mprotect(p + page, (unsigned long)page, PROT_READ))
			DIE("mprotect");
		q = (char *)inl_mremap(p + 4 * page, 2 * (unsigned long)page,
				       (unsigned long)page, 0); /* shrink */
		if (q != p + 4 * page)
			DIE("mremap");
		if (inl_munmap(p + 2 * page, 2 * (unsigned long)page))
			DIE("munmap");
		if (inl_munmap_rax(p, 2 * (unsigned long)page))
			DIE("munmap (rax)");
		if (inl_munmap(p + 4 * page, (unsigned long)page))
			DIE("munmap");
	}
}

static void *thread_main(void *arg)
{
	(void)arg;
	exe_calls();
	return NULL;
}

/* ---- a call on a tiny stack ------------------------------------------- */

static ucontext_t main_ctx, small_ctx;
static char *victim;

static void on_small_stack(void)
{
	if (inl_munmap(victim, (unsigned long)page))
		victim = NULL;
}

static void small_stack_call(void)
{
	/* a guard page, then 1 KiB of stack at the top of the next page */
	char *s = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (s == MAP_FAILED || mprotect(s, (size_t)page, PROT_NONE))
		DIE("small stack");
	victim = map(1);
	if (getcontext(&small_ctx))
		DIE("getcontext");
	small_ctx.uc_stack.ss_sp = s + page;
	small_ctx.uc_stack.ss_size = 1024;
	small_ctx.uc_link = &main_ctx;
	makecontext(&small_ctx, on_small_stack, 0);
	if (swapcontext(&main_ctx, &small_ctx))
		DIE("swapcontext");
	if (!victim)
		DIE("munmap on the small stack");
}

int main(int argc, char **argv)
{
	pthread_t t;
	void *lib;
	int (*lib_calls)(long);

	if (argc < 2) {
		fprintf(stderr, "usage: inline LIBRARY [ROUNDS]\n");
		return 2;
	}
	if (argc > 2)
		rounds = atoi(argv[2]);
	page = sysconf(_SC_PAGESIZE);
	if (pthread_create(&t, NULL, thread_main, NULL))
		DIE("pthread_create");
	exe_calls();
	pthread_join(t, NULL);
	small_stack_call();
	lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "inline: dlopen: %s\n", dlerror());
		return 1;
	}
	*(void **)&lib_calls = dlsym(lib, "inline_lib_calls");
	if (!lib_calls)
		DIE("dlsym");
	for (int r = 0; r < rounds; r++)
		if (lib_calls(page))
			DIE("inline_lib_calls");
	printf("inline: done\n");
	return 0;
}
