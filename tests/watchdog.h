/* SPDX-License-Identifier: MIT */
/*
 * A per-case watchdog for tests that could hang: t_watchdog_arm(secs, what)
 * starts a timer thread; unless t_watchdog_disarm() runs first, it prints
 * "WATCHDOG: <what> did not finish within <secs> s" and exits 1, long before
 * ctest's timeout.  A thread rather than alarm(): a thread stuck in a raw
 * futex system call may never run a signal handler under TSan.
 */
#ifndef UMN_TESTS_WATCHDOG_H
#define UMN_TESTS_WATCHDOG_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	pthread_t thread;
	const char *what;
	double secs;
	int armed;
} t_wd = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static inline void *t_watchdog_thread(void *unused)
{
	struct timespec deadline;
	int expired = 0;

	(void)unused;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)t_wd.secs;
	deadline.tv_nsec += (long)((t_wd.secs - (double)(time_t)t_wd.secs) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&t_wd.lock);
	while (t_wd.armed && !expired)
		expired = pthread_cond_timedwait(&t_wd.cv, &t_wd.lock,
						 &deadline) == ETIMEDOUT;
	if (t_wd.armed && expired) {
		fprintf(stderr, "WATCHDOG: %s did not finish within %.1f s\n",
			t_wd.what, t_wd.secs);
		fflush(stderr);
		_exit(1);
	}
	pthread_mutex_unlock(&t_wd.lock);
	return NULL;
}

static inline void t_watchdog_arm(double secs, const char *what)
{
	t_wd.what = what;
	t_wd.secs = secs;
	t_wd.armed = 1;
	pthread_create(&t_wd.thread, NULL, t_watchdog_thread, NULL);
}

static inline void t_watchdog_disarm(void)
{
	pthread_mutex_lock(&t_wd.lock);
	t_wd.armed = 0;
	pthread_cond_signal(&t_wd.cv);
	pthread_mutex_unlock(&t_wd.lock);
	pthread_join(t_wd.thread, NULL);
}

/*
 * t_thread_state - the scheduler state letter of thread tid ('S' asleep,
 * 'R' running...) from /proc/self/task/<tid>/stat, '?' if unreadable: a
 * test wakes a sleeper only once it really sleeps.
 */
static inline char t_thread_state(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

#endif /* UMN_TESTS_WATCHDOG_H */
