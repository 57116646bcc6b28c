/* SPDX-License-Identifier: MIT */
/*
 * The safety net (UMN_SELF_SUD=1) armed for the first time in a fork
 * child, while in the parent another thread was inside pthread_create()
 * with the net still off.  Such a creator is counted
 * (umnp_self_sud_creating) so that an arming waits for its thread to be
 * listed (src/self/sud_threads.c); the count is copied into the child,
 * where the creator does not exist: the child's arming must not wait for
 * it (1 s, its deadline).  A pthread_atfork child handler resets it.
 *
 * The creator is paused inside the counted window by the white-box hook
 * (umn__test_sud_arm_hook, point 2) while the main thread forks; the child
 * arms the net with umn_mm_self() and must be done in well under the
 * deadline (limit 500 ms; it prints the time).  Skips (77) where the
 * kernel lacks Syscall User Dispatch (< 5.11).  Watchdog: alarm(30), and
 * every wait is bounded with a message.
 */
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <umn/notifier.h>
#include <umn/self.h>

#define SUD_EV_MAX 16
#include "sud_common.h"

static int go, in_flight, forked;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Point 2: the creator has counted itself and is about to call libc's
 * pthread_create.  Hold it there until the main thread has forked. */
static void arm_hook(int where)
{
	if (where != 2)
		return;
	__atomic_store_n(&in_flight, 1, __ATOMIC_RELEASE);
	for (int i = 0; !__atomic_load_n(&forked, __ATOMIC_ACQUIRE); i++) {
		if (i == 10000)
			FAIL("the main thread did not fork within 10 s");
		usleep(1000);
	}
}

static void *noop(void *arg)
{
	return arg;
}

static void *creator(void *arg)
{
	pthread_t t;

	(void)arg;
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		usleep(1000); /* the main thread's alarm(30) bounds it */
	EXPECT(pthread_create(&t, NULL, noop, NULL) == 0);
	EXPECT(pthread_join(t, NULL) == 0);
	return NULL;
}

int main(void)
{
	pthread_t c;
	pid_t pid;
	int st;

	sud_start();
	EXPECT(pthread_create(&c, NULL, creator, NULL) == 0);
	/* the hook after that create: only the creator's is held */
	umn__test_sud_arm_hook(arm_hook);
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	for (int i = 0; !__atomic_load_n(&in_flight, __ATOMIC_ACQUIRE); i++) {
		if (i == 10000)
			FAIL("the creator never reached the counted window "
			     "(is pthread_create umn's?)");
		usleep(1000);
	}
	pid = fork();
	if (pid == 0) {
		struct umn_notifier sub = { .ops = &sud_ev_ops };
		double t0 = now_ms(), ms;

		umn__test_sud_arm_hook(NULL);
		sud_subscribe(&sub); /* umn_mm_self(): the net is armed */
		ms = now_ms() - t0;
		printf("# child's first arming, a creator in flight in the "
		       "parent at fork: %.1f ms\n", ms);
		fflush(stdout);
		_exit(ms < 500 ? 0 : 1);
	}
	EXPECT(pid > 0);
	__atomic_store_n(&forked, 1, __ATOMIC_RELEASE);
	EXPECT(waitpid(pid, &st, 0) == pid);
	EXPECT(pthread_join(c, NULL) == 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		return 77;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("the child's arming waited for a creator of the parent "
		     "(exit status %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	printf("ok - sud_running_fork\n");
	return 0;
}
