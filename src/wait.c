/* SPDX-License-Identifier: MIT */
/*
 * Futex-backed wait queue; see wait.h for the ordering argument.
 */
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "debug.h"
#include "wait.h"

static void futex_wait(uint32_t *word, uint32_t expected)
{
	/* EAGAIN (word changed), EINTR and spurious wake-ups all just mean
	 * "re-check the condition". */
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void umnp_wait_event(struct umnp_waitq *wq, bool (*cond)(void *arg), void *arg)
{
	uint32_t gen;

	if (cond(arg))
		return;
	__atomic_add_fetch(&wq->waiters, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		gen = __atomic_load_n(&wq->gen, __ATOMIC_SEQ_CST);
		umnp_yield();
		if (cond(arg))
			break;
		futex_wait(&wq->gen, gen);
	}
	__atomic_sub_fetch(&wq->waiters, 1, __ATOMIC_SEQ_CST);
}

void umnp_wake_all(struct umnp_waitq *wq)
{
	__atomic_add_fetch(&wq->gen, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&wq->waiters, __ATOMIC_SEQ_CST))
		futex_wake_all(&wq->gen);
}
