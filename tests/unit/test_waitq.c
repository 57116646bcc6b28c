/* SPDX-License-Identifier: MIT */
/*
 * White-box: the futex wait queue (src/wait.c, compiled into this test).
 *
 * - A condition that reads "false", then sees the waker run (it changes the
 *   state and wakes) before it returns false: the generation must have been
 *   read before the condition, or the waiter sleeps on the new generation
 *   and the wake-up is lost.  Single-threaded: the waker runs inside the
 *   condition, so the interleaving is forced, not sampled.
 * - umnp_wake_all() must advance the generation (a waiter between its read
 *   of the generation and its futex wait relies on it).
 * - A real sleeper is woken within a bounded time.
 * Each case that could hang has a 2 s watchdog.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "harness.h"
#include "wait.h"
#include "watchdog.h"

static struct umnp_waitq wq;
static int state;
static int calls;

/* Call 1 (before the waiter counts itself) and call 2 (first in the loop)
 * return false; during call 2 the "waker" makes the state true and wakes. */
static bool cond_waker_inside(void *arg)
{
	(void)arg;
	calls++;
	if (calls == 2) {
		state = 1;
		umnp_wake_all(&wq);
		return false;	/* what was read before the waker ran */
	}
	return state;
}

static void lost_wakeup_cond_before_gen(void)
{
	umnp_waitq_init(&wq);
	state = 0;
	calls = 0;
	t_watchdog_arm(2, "umnp_wait_event after a wake-up that ran inside "
		       "the condition (lost wake-up: condition checked "
		       "before the generation was read, or the wake did not "
		       "advance it)");
	umnp_wait_event(&wq, cond_waker_inside, NULL);
	t_watchdog_disarm();
	CHECK_EQ(state, 1);
	CHECK_EQ(calls, 3);
	CHECK_EQ(wq.waiters, 0);
}

static bool cond_true(void *arg)
{
	(void)arg;
	return true;
}

static void wake_advances_generation(void)
{
	uint32_t g;

	umnp_waitq_init(&wq);
	g = wq.gen;
	umnp_wake_all(&wq);
	CHECK(wq.gen != g);
	/* with a waiter registered, too */
	wq.waiters = 1;
	g = wq.gen;
	umnp_wake_all(&wq);
	CHECK(wq.gen != g);
	wq.waiters = 0;
	/* a true condition returns at once and leaves no waiter behind */
	umnp_wait_event(&wq, cond_true, NULL);
	CHECK_EQ(wq.waiters, 0);
}

static int flag;
static pid_t sleeper_tid;

static bool cond_flag(void *arg)
{
	(void)arg;
	return __atomic_load_n(&flag, __ATOMIC_SEQ_CST);
}

static void *sleeper(void *arg)
{
	(void)arg;
	__atomic_store_n(&sleeper_tid, (pid_t)syscall(SYS_gettid),
			 __ATOMIC_SEQ_CST);
	umnp_wait_event(&wq, cond_flag, NULL);
	return NULL;
}

/* 'S' once the thread sleeps (in the futex: it does nothing else). */
static void sleeper_is_woken(void)
{
	pthread_t t;
	double t0;

	umnp_waitq_init(&wq);
	flag = 0;
	sleeper_tid = 0;
	t_watchdog_arm(2, "a sleeper in umnp_wait_event after umnp_wake_all "
		       "(missed wake)");
	pthread_create(&t, NULL, sleeper, NULL);
	t0 = t_now();
	/* Until it sleeps in the futex (or 1 s: then the case is weaker but
	 * still checks that it finishes). */
	while (t_now() - t0 < 1.0 &&
	       !(__atomic_load_n(&wq.waiters, __ATOMIC_SEQ_CST) == 1 &&
		 __atomic_load_n(&sleeper_tid, __ATOMIC_SEQ_CST) &&
		 t_thread_state(sleeper_tid) == 'S'))
		usleep(1000);
	__atomic_store_n(&flag, 1, __ATOMIC_SEQ_CST);
	umnp_wake_all(&wq);
	pthread_join(t, NULL);
	t_watchdog_disarm();
	CHECK_EQ(wq.waiters, 0);
}

int main(void)
{
	RUN(wake_advances_generation);
	RUN(lost_wakeup_cond_before_gen);
	RUN(sleeper_is_woken);
	return 0;
}
