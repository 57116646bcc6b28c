/* SPDX-License-Identifier: MIT */
/*
 * Every call that changes a mapping, made directly, from several threads at
 * once (brk/sbrk only from the main thread: the break is per process):
 * munmap, mremap (shrink, grow that may move, MREMAP_FIXED), madvise
 * DONTNEED, process_madvise DONTNEED on itself (and MADV_PAGEOUT, both
 * ways, with the "pageout" argument), mmap MAP_FIXED over an
 * existing mapping, shmat SHM_REMAP, shmdt, mprotect, and the raw
 * syscall(SYS_munmap) / syscall(SYS_mprotect).  Used by tests/tool with
 * `umn trace --audit`: every call must have its umn event.
 * Usage: calls [THREADS] [ROUNDS] [pageout]
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef __NR_process_madvise
#define __NR_process_madvise 440
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif

static long page;
static int rounds = 2;
static int pageout; /* "pageout" as the third argument: MADV_PAGEOUT too */

#define DIE(what)                                                        \
	do {                                                             \
		fprintf(stderr, "calls: %s: %s (line %d)\n", what,       \
			strerror(errno), __LINE__);                      \
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

static void one_round(int pidfd)
{
	char *p, *q, *r;
	int id;

	/* munmap, part then all */
	p = map(4);
	if (munmap(p + 3 * page, (size_t)page))
		DIE("munmap");
	if (munmap(p, 3 * (size_t)page))
		DIE("munmap");

	/* mremap: shrink in place, grow (may move), move to a fixed place */
	p = map(8);
	p = mremap(p, 8 * (size_t)page, 4 * (size_t)page, 0);
	if (p == MAP_FAILED)
		DIE("mremap shrink");
	p = mremap(p, 4 * (size_t)page, 64 * (size_t)page, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		DIE("mremap grow");
	q = map(64);
	r = mremap(p, 64 * (size_t)page, 64 * (size_t)page,
		   MREMAP_MAYMOVE | MREMAP_FIXED, q);
	if (r != q)
		DIE("mremap fixed");
	if (munmap(r, 64 * (size_t)page))
		DIE("munmap");

	/* madvise DONTNEED drops the pages */
	p = map(16);
	if (madvise(p, 16 * (size_t)page, MADV_DONTNEED))
		DIE("madvise");

	/* process_madvise on ourselves: DONTNEED (Linux 6.13+ accepts any
	 * advice for the caller itself), else COLD (drops nothing) */
	if (pidfd >= 0) {
		struct iovec iov[2] = {
			{ p, 4 * (size_t)page },
			{ p + 8 * page, 4 * (size_t)page },
		};

		memset(p, 1, 16 * (size_t)page);
		if (syscall(__NR_process_madvise, pidfd, iov, 2, MADV_DONTNEED, 0) < 0 &&
		    syscall(__NR_process_madvise, pidfd, iov, 2, MADV_COLD, 0) < 0 &&
		    errno != EINVAL && errno != ENOSYS && errno != EPERM)
			DIE("process_madvise");
		if (pageout) {
			memset(p, 1, 16 * (size_t)page);
			syscall(__NR_process_madvise, pidfd, iov, 2, MADV_PAGEOUT, 0);
		}
	}
	if (pageout) {
		memset(p, 1, 16 * (size_t)page);
		if (madvise(p, 16 * (size_t)page, MADV_PAGEOUT) && errno != EINVAL)
			DIE("madvise(MADV_PAGEOUT)");
	}

	/* mmap MAP_FIXED over an existing mapping */
	q = mmap(p + 4 * page, 4 * (size_t)page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (q != p + 4 * page)
		DIE("mmap MAP_FIXED");

	/* mprotect */
	if (mprotect(p, 16 * (size_t)page, PROT_READ))
		DIE("mprotect");
	if (mprotect(p, 16 * (size_t)page, PROT_READ | PROT_WRITE))
		DIE("mprotect");

	/* the raw system calls */
	if (syscall(SYS_mprotect, p, 2 * (size_t)page, PROT_NONE))
		DIE("syscall(SYS_mprotect)");
	if (syscall(SYS_munmap, p, 16 * (size_t)page))
		DIE("syscall(SYS_munmap)");

	/* SysV shm: attach over an existing mapping with SHM_REMAP, detach */
	id = shmget(IPC_PRIVATE, 8 * (size_t)page, IPC_CREAT | 0600);
	if (id < 0)
		DIE("shmget");
	p = map(8);
	q = shmat(id, p, SHM_REMAP);
	if (q == (void *)-1)
		DIE("shmat SHM_REMAP");
	memset(q, 3, 8 * (size_t)page);
	if (shmdt(q))
		DIE("shmdt");
	if (shmctl(id, IPC_RMID, NULL))
		DIE("shmctl");
	/* shmdt left the range unmapped: another thread may map it now, so
	 * it is not ours to munmap any more */
}

static int pidfd = -1;

static void *worker(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < rounds; i++)
		one_round(pidfd);
	return NULL;
}

static void brk_round(void)
{
	char *old = sbrk(0), *cur;

	if (sbrk(64 * page) == (void *)-1)
		DIE("sbrk grow");
	cur = sbrk(0);
	memset(old, 7, (size_t)(cur - old));
	if (sbrk(-32 * page) == (void *)-1) /* shrink: sbrk */
		DIE("sbrk shrink");
	if (brk(old)) /* shrink: brk */
		DIE("brk");
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 3, i;
	pthread_t *t;

	if (argc > 2)
		rounds = atoi(argv[2]);
	pageout = argc > 3 && strcmp(argv[3], "pageout") == 0;
	page = sysconf(_SC_PAGESIZE);
	pidfd = (int)syscall(__NR_pidfd_open, getpid(), 0);
	t = calloc((size_t)threads, sizeof(*t));
	for (i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, worker, NULL))
			DIE("pthread_create");
	for (i = 0; i < rounds; i++) {
		brk_round();
		one_round(pidfd);
	}
	for (i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	free(t);
	printf("calls: %d threads x %d rounds done\n", threads + 1, rounds);
	return 0;
}
