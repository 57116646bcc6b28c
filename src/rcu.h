/* SPDX-License-Identifier: MIT */
/*
 * Internal: read-side sections and grace periods for classic subscriptions
 * (the kernel uses SRCU).  Backed by liburcu's bulletproof flavour
 * (urcu-bp): application threads are not ours to register, and urcu-bp
 * registers a thread lazily on its first read-side section.  Read-side
 * sections may block (callbacks may sleep, as under SRCU); they only delay
 * grace periods.  liburcu has one domain per flavour, so grace periods are
 * process-wide rather than per address space.
 *
 * Under ThreadSanitizer the wrappers add the happens-before edges TSan cannot
 * see through liburcu's barriers: every read-side unlock releases a token,
 * every grace period (and every call_rcu callback) acquires it.
 */
#ifndef UMN_SRC_RCU_H
#define UMN_SRC_RCU_H

#include <umn/notifier.h>

void umnp_rcu_read_lock(void);
void umnp_rcu_read_unlock(void);
/* Wait for every read-side section that began before the call. */
void umnp_rcu_synchronize(void);
/* Run fn(head) after a grace period, on liburcu's call_rcu thread. */
void umnp_rcu_call(struct umn_rcu_head *head,
		   void (*fn)(struct umn_rcu_head *head));
/* Wait until every callback queued by umnp_rcu_call() has run. */
void umnp_rcu_barrier(void);

/* RCU-protected pointer publication and reads. */
#define umnp_rcu_assign(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define umnp_rcu_deref(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)

#endif /* UMN_SRC_RCU_H */
