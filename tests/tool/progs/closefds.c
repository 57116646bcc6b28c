/* SPDX-License-Identifier: MIT */
/*
 * A program that closes every descriptor above 2 while it runs, as
 * daemons and sandboxes do (close_range(3, ~0U, 0)), and unmaps memory
 * before and after: 7 pages before, 9 after.
 *   closefds close   then opens /dev/null (reuses a low number)
 *   closefds lose    also lowers RLIMIT_NOFILE to 3 for one unmap of 11
 *                    pages (no descriptor left to reconnect: that record
 *                    is lost), then restores it and unmaps 13 pages
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void unmap_pages(size_t n)
{
	size_t len = n * (size_t)sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	memset(p, 1, len);
	if (munmap(p, len) != 0) {
		perror("munmap");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	bool lose = argc > 1 && strcmp(argv[1], "lose") == 0;
	struct rlimit rl;

	unmap_pages(7);
	if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
		perror("close_range");
		return 1;
	}
	if (open("/dev/null", O_RDONLY) < 0) { /* takes a freed number */
		perror("open");
		return 1;
	}
	if (lose) {
		getrlimit(RLIMIT_NOFILE, &rl);
		struct rlimit low = { 4, rl.rlim_max }; /* 0-3 are open */
		if (setrlimit(RLIMIT_NOFILE, &low) != 0) {
			perror("setrlimit");
			return 1;
		}
		unmap_pages(11);
		setrlimit(RLIMIT_NOFILE, &rl);
		unmap_pages(13);
	}
	unmap_pages(9);
	printf("closefds: done\n");
	return 0;
}
