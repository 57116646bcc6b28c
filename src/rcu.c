/* SPDX-License-Identifier: MIT */
/*
 * liburcu (bulletproof flavour) behind umn's own names; see rcu.h.
 */
#include <assert.h>
#include <pthread.h>
#include <urcu-bp.h>
#include <urcu/urcu-bp.h>
#include "debug.h"
#include "rcu.h"

#if UMN_TSAN
#include <sanitizer/tsan_interface.h>
static char gp_token;
#define TSAN_RELEASE() __tsan_release(&gp_token)
#define TSAN_ACQUIRE() __tsan_acquire(&gp_token)
#else
#define TSAN_RELEASE() do { } while (0)
#define TSAN_ACQUIRE() do { } while (0)
#endif

/* Our view of a umn_rcu_head: liburcu's head, then the callback to run. */
struct rcu_slot {
	struct rcu_head head;
	void (*fn)(struct umn_rcu_head *head);
};

_Static_assert(sizeof(struct umn_rcu_head) >= sizeof(struct rcu_slot),
	       "umn_rcu_head too small for liburcu's rcu_head");
_Static_assert(_Alignof(struct umn_rcu_head) >= _Alignof(struct rcu_slot),
	       "umn_rcu_head misaligned for liburcu's rcu_head");

/*
 * fork: liburcu asks programs that fork without exec to call its fork hooks
 * (the grace-period lock and the call_rcu threads).  A library cannot ask
 * that of its users, so umn registers them with pthread_atfork when it is
 * loaded: a fork while another thread is inside a grace period then cannot
 * hand the child a held liburcu lock.
 */

static void before_fork(void)
{
	urcu_bp_call_rcu_before_fork();
	urcu_bp_before_fork();
}

static void after_fork_parent(void)
{
	urcu_bp_after_fork_parent();
	urcu_bp_call_rcu_after_fork_parent();
}

static void after_fork_child(void)
{
	urcu_bp_after_fork_child();
	urcu_bp_call_rcu_after_fork_child();
}

__attribute__((constructor)) static void register_fork_hooks(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void umnp_rcu_read_lock(void)
{
	urcu_bp_read_lock();
}

void umnp_rcu_read_unlock(void)
{
	TSAN_RELEASE();
	urcu_bp_read_unlock();
}

void umnp_rcu_synchronize(void)
{
	urcu_bp_synchronize_rcu();
	TSAN_ACQUIRE();
}

static void call_trampoline(struct rcu_head *head)
{
	struct rcu_slot *slot = (struct rcu_slot *)head;

	TSAN_ACQUIRE();		/* pairs with the release in umnp_rcu_call */
	slot->fn((struct umn_rcu_head *)(void *)slot);
	TSAN_RELEASE();		/* pairs with the acquire in umnp_rcu_barrier */
}

void umnp_rcu_call(struct umn_rcu_head *head,
		   void (*fn)(struct umn_rcu_head *head))
{
	struct rcu_slot *slot = (struct rcu_slot *)(void *)head;

	slot->fn = fn;
	TSAN_RELEASE();
	urcu_bp_call_rcu(&slot->head, call_trampoline);
}

void umnp_rcu_barrier(void)
{
	urcu_bp_barrier();
	TSAN_ACQUIRE();
}
