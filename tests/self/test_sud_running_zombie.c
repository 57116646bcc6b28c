/* SPDX-License-Identifier: MIT */
/*
 * The safety net (UMN_SELF_SUD=1) armed after the main thread has called
 * pthread_exit(): the thread group's leader is a zombie until the process
 * exits, still listed in /proc/self/task and still answering tgkill(0),
 * but it never runs a handler again.  The arming (src/self/sud_threads.c)
 * must count it as exited, not wait for its answer until its deadline
 * (1 s) and count it as not armed.
 *
 * The thread left arms the net with umn_mm_self(), then checks
 * umn__test_sud_running(): 0 armed, 0 not armed (the leader is the only
 * other thread), and umn__test_sud_sent(): no request sent (the leader's
 * State is read first: a zombie is not awaited).  It prints how long the
 * arming took.
 * Skips (77) where the kernel lacks Syscall User Dispatch (< 5.11).
 * Watchdog: alarm(30).
 */
#include <pthread.h>
#include <time.h>
#include <umn/notifier.h>
#include <umn/self.h>

#define SUD_EV_MAX 16
#include "sud_common.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* /proc/self/task/PID/status says Z or X: the leader has exited. */
static void wait_leader_zombie(void)
{
	char path[64], line[128];

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", getpid());
	for (int i = 0; i < 5000; i++) {
		FILE *f = fopen(path, "r");
		bool zombie = false;

		if (!f)
			return; /* gone from the list: nothing to test */
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "State:\t", 7))
				zombie = line[7] == 'Z' || line[7] == 'X';
		fclose(f);
		if (zombie)
			return;
		usleep(1000);
	}
	FAIL("the main thread is not a zombie after 5 s");
}

static void *survivor(void *arg)
{
	struct umn_notifier sub = { .ops = &sud_ev_ops };
	unsigned int armed, not_armed;
	struct umn_mm *mm;
	double t0;

	(void)arg;
	wait_leader_zombie();
	t0 = now_ms();
	mm = sud_subscribe(&sub); /* umn_mm_self(): the net is armed */
	umn__test_sud_running(&armed, &not_armed);
	printf("# arming with a zombie leader: %.1f ms, %u armed, %u not "
	       "armed\n", now_ms() - t0, armed, not_armed);
	if (not_armed)
		FAIL("the exited main thread was counted as not armed (its "
		     "answer awaited until the deadline)");
	if (umn__test_sud_sent())
		FAIL("a request was sent to the exited main thread (its "
		     "State is read first: a zombie is skipped at once, "
		     "not awaited %s)", "50 ms");
	EXPECT(armed == 0);
	EXPECT(umn_notifier_unregister(&sub, mm) == 0);
	printf("ok - sud_running_zombie\n");
	exit(0);
}

int main(void)
{
	pthread_t t;

	sud_start();
	EXPECT(pthread_create(&t, NULL, survivor, NULL) == 0);
	pthread_exit(NULL);
}
