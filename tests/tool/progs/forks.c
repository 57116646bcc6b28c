/* SPDX-License-Identifier: MIT */
/*
 * Processes: a fork child unmaps memory it inherited (umn re-subscribes in
 * the child), a signal handler unmaps memory, and a child execs another
 * program (argv[1], with its arguments) which is traced as well.
 * Usage: forks PROG [ARGS...]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static char *victim;
static size_t len;

static void on_usr1(int sig)
{
	(void)sig;
	munmap(victim, len); /* from a signal handler */
}

static char *map(void)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	memset(p, 1, len);
	return p;
}

int main(int argc, char **argv)
{
	char *a;
	pid_t pid;
	int status, i;

	len = 16 * (size_t)sysconf(_SC_PAGESIZE);
	a = map();
	for (i = 0; i < 2; i++) {
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			/* the child's copy of a */
			mprotect(a, len, PROT_READ);
			munmap(a, len);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			return 1;
	}
	munmap(a, len);

	signal(SIGUSR1, on_usr1);
	victim = map();
	raise(SIGUSR1);

	if (argc > 1) {
		pid = fork();
		if (pid == 0) {
			execv(argv[1], argv + 1);
			perror("execv");
			_exit(127);
		}
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			return 1;
	}
	printf("forks: done\n");
	return 0;
}
