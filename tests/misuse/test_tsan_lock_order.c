/* SPDX-License-Identifier: MIT */
/*
 * Under ThreadSanitizer (a TSan build of libumn with debug checks), holding
 * a lock that an invalidate callback takes while calling
 * umn_interval_read_begin() is a lock-order inversion against the fake
 * invalidate lock map, and TSan's deadlock detector must report it (the
 * lockdep analogue of contract section 7).  The parent re-runs itself as a
 * child with detect_deadlocks=1 and checks the child's stderr.  Skipped (77)
 * outside TSan builds.
 */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "misuse.h"

static pthread_mutex_t user_lock = PTHREAD_MUTEX_INITIALIZER;

static bool cb(struct umn_interval_notifier *sub,
	       const struct umn_notifier_range *range, unsigned long cur_seq)
{
	(void)range;
	pthread_mutex_lock(&user_lock);	/* lock map -> user_lock */
	umn_interval_set_seq(sub, cur_seq);
	pthread_mutex_unlock(&user_lock);
	return true;
}

static const struct umn_interval_notifier_ops ops = { .invalidate = cb };

static int child(void)
{
	struct umn_mm *mm = umn_mm_new();
	struct umn_interval_notifier sub = { 0 };

	CHECK(mm);
	CHECK_EQ(umn_interval_notifier_insert(&sub, mm, 0x1000, 0x1000, &ops),
		 0);
	m_invalidate_range(mm, 0x1000, 0x2000);
	pthread_mutex_lock(&user_lock);	/* user_lock -> lock map: wrong */
	(void)umn_interval_read_begin(&sub);
	pthread_mutex_unlock(&user_lock);
	CHECK_EQ(umn_interval_notifier_remove(&sub), 0);
	CHECK_EQ(umn_mm_put(mm), 0);
	return 0;
}

int main(int argc, char **argv)
{
	char buf[65536];
	size_t len = 0;
	int pfd[2], status;
	pid_t pid;
	ssize_t n;

	if (argc > 1 && !strcmp(argv[1], "child"))
		return child();
	if (!T_TSAN || !umn_debug_enabled()) {
		printf("# not a ThreadSanitizer debug build: skip\n");
		return T_SKIP;
	}
	CHECK(!pipe(pfd));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		setenv("TSAN_OPTIONS", "detect_deadlocks=1 halt_on_error=0 "
		       "exitcode=0 report_signal_unsafe=0", 1);
		execl("/proc/self/exe", argv[0], "child", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	close(pfd[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	fputs(buf, stdout);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!strstr(buf, "lock-order-inversion")) {
		fprintf(stderr, "TSan did not report the inversion\n");
		return 1;
	}
	printf("misuse tsan lock order: 1 passed, 0 failed\n");
	return 0;
}
