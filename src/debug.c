/* SPDX-License-Identifier: MIT */
/*
 * Reports and debug checks.  See debug.h and <umn/debug.h>.
 */
#include <signal.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <umn/debug.h>
#include <umn/notifier.h>
#include "debug.h"

#if UMN_TSAN
#include <pthread.h>
#include <sanitizer/tsan_interface.h>
#endif

static umn_warn_fn warn_fn;
static void *warn_arg;
static unsigned long warn_count;

void umn_set_warn_handler(umn_warn_fn fn, void *arg)
{
	__atomic_store_n(&warn_arg, arg, __ATOMIC_RELAXED);
	__atomic_store_n(&warn_fn, fn, __ATOMIC_RELEASE);
}

unsigned long umn_warn_count(void)
{
	return __atomic_load_n(&warn_count, __ATOMIC_RELAXED);
}

void umnp_warn(const char *func, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	umn_warn_fn fn;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	__atomic_add_fetch(&warn_count, 1, __ATOMIC_RELAXED);
	fn = __atomic_load_n(&warn_fn, __ATOMIC_ACQUIRE);
	if (fn)
		fn(func, msg, __atomic_load_n(&warn_arg, __ATOMIC_RELAXED));
	else
		fprintf(stderr, "umn: WARNING: %s: %s\n", func, msg);
}

#if UMN_TEST_HOOKS
#include "test_hook.h"

umn__test_hook_fn umn__test_hook;
#endif

#if UMN_FAULT_INJECT
#include "alloc.h"

static unsigned long fault_count, fault_at;

void umn__fault_alloc_fail_at(unsigned long n)
{
	__atomic_store_n(&fault_at, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fault_count, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fault_at, n, __ATOMIC_SEQ_CST);
}

unsigned long umn__fault_alloc_count(void)
{
	return __atomic_load_n(&fault_count, __ATOMIC_SEQ_CST);
}

bool umnp_fault_alloc(void)
{
	unsigned long n = __atomic_add_fetch(&fault_count, 1, __ATOMIC_SEQ_CST);

	return n == __atomic_load_n(&fault_at, __ATOMIC_SEQ_CST);
}

/* Async-signal-safe: hooks call it from any thread, in signal handlers. */
static long sys_fail_nr = -1;
static int sys_fail_err;
static unsigned long sys_fail_count, sys_fail_skip;

void umn__fault_syscall_fail(long nr, int err, unsigned long skip)
{
	__atomic_store_n(&sys_fail_nr, -1L, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sys_fail_count, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sys_fail_skip, skip, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sys_fail_err, err, __ATOMIC_SEQ_CST);
	if (err > 0)
		__atomic_store_n(&sys_fail_nr, nr, __ATOMIC_SEQ_CST);
}

unsigned long umn__fault_syscall_count(void)
{
	return __atomic_load_n(&sys_fail_count, __ATOMIC_SEQ_CST);
}

long umnp_fault_syscall(long nr)
{
	unsigned long skip;

	if (nr != __atomic_load_n(&sys_fail_nr, __ATOMIC_SEQ_CST))
		return 0;
	skip = __atomic_load_n(&sys_fail_skip, __ATOMIC_SEQ_CST);
	while (skip)
		if (__atomic_compare_exchange_n(&sys_fail_skip, &skip, skip - 1,
						false, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			return 0;
	__atomic_add_fetch(&sys_fail_count, 1, __ATOMIC_SEQ_CST);
	return -(long)__atomic_load_n(&sys_fail_err, __ATOMIC_SEQ_CST);
}
#endif

#if UMN_DEBUG_YIELD
#include <sched.h>
#include <stdlib.h>
#include <time.h>

static int yield_rate = -1;

void umnp_yield(void)
{
	static __thread unsigned int rng;
	int rate = __atomic_load_n(&yield_rate, __ATOMIC_RELAXED);

	if (rate < 0) {
		const char *s = getenv("UMN_YIELD_RATE");

		rate = s ? atoi(s) : 10;
		__atomic_store_n(&yield_rate, rate, __ATOMIC_RELAXED);
	}
	if (!rng)
		rng = (unsigned int)(uintptr_t)&rng ^ (unsigned int)time(NULL);
	rng = rng * 1103515245u + 12345u;
	if ((int)((rng >> 16) % 100) >= rate)
		return;
	if ((rng >> 8) & 1) {
		sched_yield();
	} else {
		struct timespec ts = { 0, (long)((rng >> 4) % 20000) };

		nanosleep(&ts, NULL);
	}
}
#endif

bool umn_debug_enabled(void)
{
	return UMN_LIB_DEBUG;
}

__thread struct umnp_thread umnp_thr
	__attribute__((tls_model("initial-exec")));

void umnp_crit_release(void)
{
	unsigned long m = umnp_thr.deferred;
	register long r10 __asm__("r10") = 8;
	long ret;

	umnp_thr.deferred = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	/* raw: libc's wrapper may be intercepted (sanitizers) */
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"((long)SYS_rt_sigprocmask), "D"((long)SIG_UNBLOCK),
			   "S"(&m), "d"(0l), "r"(r10)
			 : "rcx", "r11", "memory");
	(void)ret;
}

int umnp_test_sig_in_lock;

void umn__test_signal_in_lock(int sig);	/* <umn/self.h> */
void umn__test_signal_in_lock(int sig)
{
	__atomic_store_n(&umnp_test_sig_in_lock, sig, __ATOMIC_RELEASE);
}

void umnp_test_fire(void)
{
	int sig = __atomic_exchange_n(&umnp_test_sig_in_lock, 0,
				      __ATOMIC_ACQ_REL);

	if (sig > 0)
		syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
}

bool umnp_dbg_in_callback_slow(const char *func)
{
	if (umnp_thr.callback_depth == 0)
		return false;
	umnp_warn(func, "called from inside a notifier callback "
		  "(it waits for callbacks: deadlock): -EDEADLK");
	return true;
}

bool umn_in_callback(void)
{
	return umnp_thr.callback_depth > 0;
}

bool umn_in_nonblock(void)
{
	return umnp_thr.nonblock_depth > 0;
}

#if UMN_LIB_DEBUG

#if UMN_TSAN
/*
 * The fake lock: only its address matters to TSan.  A fork child must not
 * inherit the parent's annotation state (another thread may "hold" it in a
 * callback at fork time, and TSan's bookkeeping for it can hang the child),
 * so each child moves on to a fresh address.
 */
#define LOCK_MAPS 64
static char invalidate_lock_maps[LOCK_MAPS];
static unsigned int lock_map_index;

static void *lock_map(void)
{
	return &invalidate_lock_maps[__atomic_load_n(&lock_map_index,
						     __ATOMIC_RELAXED)];
}

static void lock_map_after_fork_child(void)
{
	__atomic_store_n(&lock_map_index, (lock_map_index + 1) % LOCK_MAPS,
			 __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void lock_map_init(void)
{
	pthread_atfork(NULL, NULL, lock_map_after_fork_child);
}
#endif

void umnp_lockmap_acquire(void)
{
#if UMN_TSAN
	__tsan_mutex_pre_lock(lock_map(), __tsan_mutex_read_lock);
	__tsan_mutex_post_lock(lock_map(), __tsan_mutex_read_lock, 0);
#endif
}

void umnp_lockmap_release(void)
{
#if UMN_TSAN
	__tsan_mutex_pre_unlock(lock_map(), __tsan_mutex_read_lock);
	__tsan_mutex_post_unlock(lock_map(), __tsan_mutex_read_lock);
#endif
}

bool umnp_dbg_might_sleep(const char *func)
{
	if (umnp_thr.nonblock_depth > 0) {
		umnp_warn(func, "blocking call from a non-blockable callback");
		return true;
	}
	return false;
}

void umn_might_sleep(void)
{
	umnp_dbg_might_sleep("umn_might_sleep");
}

void umn_might_invalidate(void)
{
	/* Not a report from a callback: a callback may unmap memory (a
	 * nested invalidation, see <umn/self.h>). */
	umnp_lockmap_touch();
}

void umn__debug_invalidate_enter(bool blockable)
{
	if (blockable)
		umnp_dbg_might_sleep("umn_notifier_invalidate_range_start");
	umnp_lockmap_acquire();
}

void umn__debug_invalidate_exit(void)
{
	umnp_lockmap_release();
}

#else /* !UMN_LIB_DEBUG: the entry points exist and do nothing */

void umn_might_sleep(void) {}
void umn_might_invalidate(void) {}
void umn__debug_invalidate_enter(bool blockable) { (void)blockable; }
void umn__debug_invalidate_exit(void) {}

#endif
