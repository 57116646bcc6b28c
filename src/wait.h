/* SPDX-License-Identifier: MIT */
/*
 * Internal: a wait queue on a futex generation word (kernel: wait_queue_head
 * with wait_event / wake_up_all).  Waiting costs nothing until it sleeps,
 * and waking costs one atomic increment plus a load when nobody sleeps.
 *
 * Pairing: the waker changes the condition, then umnp_wake_all() increments
 * `gen` and reads `waiters`; a waiter increments `waiters`, reads `gen`, then
 * re-checks the condition before sleeping on `gen`.  All four are seq_cst,
 * so either the waiter sees the new condition or the waker sees the waiter.
 */
#ifndef UMN_SRC_WAIT_H
#define UMN_SRC_WAIT_H

#include <stdbool.h>
#include <stdint.h>

struct umnp_waitq {
	uint32_t gen;
	uint32_t waiters;
};

static inline void umnp_waitq_init(struct umnp_waitq *wq)
{
	wq->gen = 0;
	wq->waiters = 0;
}

/* Sleep until cond(arg) returns true.  May block. */
void umnp_wait_event(struct umnp_waitq *wq, bool (*cond)(void *arg), void *arg);

/* Wake every sleeper of wq (they re-check their condition). */
void umnp_wake_all(struct umnp_waitq *wq);

#endif /* UMN_SRC_WAIT_H */
