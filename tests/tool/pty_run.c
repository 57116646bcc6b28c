/* SPDX-License-Identifier: MIT */
/*
 * pty_run [-i LINE] CMD [ARGS...]: run CMD on a new pseudo-terminal as its
 * controlling terminal (CMD's process group in the foreground, as a shell
 * with job control would), and type at it like a user: when CMD prints
 * "prompt" type LINE and Enter; when it prints "ready" press Ctrl-C (the
 * terminal's INTR character, so the line discipline signals the whole
 * foreground process group).  Everything CMD prints is copied to standard
 * output; the exit status is CMD's.  A watchdog ends it after 30 s.
 */
#include <errno.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static pid_t child;

static void on_alarm(int sig)
{
	static const char msg[] = "pty_run: watchdog: CMD still running after 30 s\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	if (child > 0)
		kill(child, SIGKILL);
	_exit(3);
}

int main(int argc, char **argv)
{
	const char *line = NULL;
	char buf[4096], seen[8192] = "";
	size_t nseen = 0;
	int master, status, argi = 1, typed = 0, interrupted = 0;
	ssize_t n;

	if (argc > 2 && strcmp(argv[1], "-i") == 0) {
		line = argv[2];
		argi = 3;
	}
	if (argi >= argc) {
		fprintf(stderr, "usage: pty_run [-i LINE] CMD [ARGS...]\n");
		return 2;
	}
	signal(SIGALRM, on_alarm);
	alarm(30);
	child = forkpty(&master, NULL, NULL, NULL);
	if (child < 0) {
		perror("pty_run: forkpty");
		return 77;
	}
	if (child == 0) {
		execvp(argv[argi], argv + argi);
		perror("pty_run: exec");
		_exit(127);
	}
	for (;;) {
		n = read(master, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EIO: every holder of the slave side is gone */
		fwrite(buf, 1, (size_t)n, stdout);
		fflush(stdout);
		if (nseen + (size_t)n < sizeof(seen)) {
			memcpy(seen + nseen, buf, (size_t)n);
			nseen += (size_t)n;
			seen[nseen] = 0;
		}
		if (line && !typed && strstr(seen, "prompt")) {
			typed = 1;
			if (write(master, line, strlen(line)) < 0 ||
			    write(master, "\n", 1) < 0)
				perror("pty_run: write");
		}
		if (!interrupted && strstr(seen, "ready")) {
			struct termios t;
			char intr = 3;

			if (tcgetattr(master, &t) == 0)
				intr = (char)t.c_cc[VINTR];
			interrupted = 1;
			if (write(master, &intr, 1) < 0)
				perror("pty_run: write");
		}
	}
	if (waitpid(child, &status, 0) < 0)
		return 2;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
