/* SPDX-License-Identifier: MIT */
/*
 * Misuse must never leave a process that ignores SIGTERM and SIGINT.  A
 * child's callback (of a hooked munmap) blocks forever, as a callback that
 * waits on a lock in a non-blockable range would; the parent sends SIGTERM
 * (then, to a second child, SIGINT) and the child must die of it at once.
 * Hooks used to block every asynchronous signal around the call; with the
 * application's handlers wrapped (the default with patching) they block
 * none, and a signal with its default action kills as usual.
 * Skipped where hooks still block signals (UMN_SELF_SIGMASK=1,
 * interposition, ThreadSanitizer builds): there, only SIGKILL stops such a
 * process.
 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <umn/self.h>
#include "harness.h"

static int pipefd[2];
static char *trigger;

static int stuck_start(struct umn_notifier *sub,
		       const struct umn_notifier_range *r)
{
	(void)sub;
	if (r->start <= (unsigned long)trigger &&
	    r->end > (unsigned long)trigger) {
		char c = 'x';

		if (write(pipefd[1], &c, 1) != 1)
			_exit(4);
		for (;;)
			pause();	/* the misuse: blocks forever */
	}
	return 0;
}

static const struct umn_notifier_ops stuck_ops = {
	.invalidate_range_start = stuck_start,
};

static void child(void)
{
	static struct umn_notifier sub = { .ops = &stuck_ops };

	if (!umn_mm_self() || umn_notifier_register(&sub, umn_mm_self()))
		_exit(5);
	trigger = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (trigger == MAP_FAILED)
		_exit(6);
	munmap(trigger, 4096);
	_exit(7);	/* never reached */
}

static void one(int sig)
{
	struct pollfd p;
	int status = 0;
	pid_t pid, r = 0;
	char c;

	CHECK_EQ(pipe(pipefd), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child();
	close(pipefd[1]);
	p.fd = pipefd[0];
	p.events = POLLIN;
	CHECK_EQ(poll(&p, 1, 10000), 1);
	CHECK_EQ(read(pipefd[0], &c, 1), 1);	/* inside the callback */
	close(pipefd[0]);
	CHECK_EQ(kill(pid, sig), 0);
	for (int i = 0; i < 500 && r == 0; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		r = waitpid(pid, &status, WNOHANG);
		if (r == 0)
			nanosleep(&ts, NULL);
	}
	if (r == 0) {
		fprintf(stderr, "child still running 5 s after %s: the hook "
			"blocks it\n", strsignal(sig));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		exit(1);
	}
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), sig);
	printf("# %s stopped a process stuck in a callback\n", strsignal(sig));
}

int main(void)
{
	const char *m = getenv("UMN_SELF_SIGMASK");
	const char *s = getenv("UMN_SOURCES");

	CHECK(umn_mm_self() != NULL);
	if (!(umn_self_sources() & UMN_SELF_PATCH) ||
	    (s && strstr(s, "interpose")))
		printf("# interposition: umn does not see sigaction; hooks "
		       "spare SIGINT and SIGTERM at their default action\n");
	if (m && !strcmp(m, "1"))
		printf("# UMN_SELF_SIGMASK=1: hooks mask, but only signals "
		       "that have a handler\n");
	one(SIGTERM);
	one(SIGINT);
	printf("ok - sigterm\n");
	return 0;
}
