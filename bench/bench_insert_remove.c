/* SPDX-License-Identifier: MIT */
/*
 * 6. Insert + remove of an interval subscription, in each state of the
 *    state machine (address space with 1e4 other subscriptions):
 *
 *  6   idle: insert + remove, against a mutex lock+unlock pair (scale).
 *  6p  partial exclusion: an invalidation of a range that intersects no
 *      subscription is running.  An insert then cannot know whether the
 *      running invalidation covers it, so it makes seq odd (the new
 *      subscription collides until the end); a remove right after would wait
 *      for that end, so the subject is "start(X), insert, end(X), remove"
 *      against the same four calls in idle order "insert, remove, start(X),
 *      end(X)": the ratio is the price of colliding with a running
 *      invalidation (the end then does the odd->even step and the wake-up).
 *  6f  full exclusion: an invalidation covering another subscription is
 *      running (seq odd, the tree frozen): insert is queued on the deferred
 *      list and the remove that follows unqueues it.  Against idle
 *      insert + remove.
 *  6w  full exclusion, remove of a subscription that is in the tree: it is
 *      queued and waits for the end, which another thread calls.  Measured:
 *      the latency from the end() call to remove() returning, against the
 *      same hand-off through a pthread condition variable (signal -> the
 *      waiter returns), both threads pinned to different CPUs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <umn/umn.h>
#include "bench.h"

#define PAGE 4096ul
#define BASE 0x300000000ul
#define NOTHERS 10000ul

static struct umn_mm *mm;
static struct umn_interval_notifier *others;
static struct umn_interval_notifier probe;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
/* the probe's address: between the others (which sit on even pages) */
static const unsigned long probe_addr = BASE + 2 * PAGE * 5000 + PAGE;
/* a range no subscription covers */
static const unsigned long free_addr = BASE + 2 * PAGE * (NOTHERS + 10);

static bool inv(struct umn_interval_notifier *s,
		const struct umn_notifier_range *r, unsigned long cur_seq)
{
	(void)r;
	pthread_mutex_lock(&mutex);
	umn_interval_set_seq(s, cur_seq);
	pthread_mutex_unlock(&mutex);
	return true;
}

static const struct umn_interval_notifier_ops sub_ops = { .invalidate = inv };

static void check(int ret, const char *what)
{
	if (ret) {
		fprintf(stderr, "%s: %d\n", what, ret);
		exit(1);
	}
}

static void run_mutex(void *arg, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++) {
		pthread_mutex_lock(&mutex);
		pthread_mutex_unlock(&mutex);
	}
}

static void run_idle(void *arg, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++) {
		check(umn_interval_notifier_insert(&probe, mm, probe_addr, PAGE,
						   &sub_ops), "insert");
		check(umn_interval_notifier_remove(&probe), "remove");
	}
}

static void start_end_free(struct umn_notifier_range *r, bool start)
{
	if (start) {
		umn_notifier_range_init(r, UMN_NOTIFY_UNMAP, 0, mm, free_addr,
					free_addr + PAGE);
		umn_notifier_invalidate_range_start(r);
	} else {
		umn_notifier_invalidate_range_end(r);
	}
}

static void run_idle4(void *arg, uint64_t iters)
{
	struct umn_notifier_range r;

	for (uint64_t i = 0; i < iters; i++) {
		check(umn_interval_notifier_insert(&probe, mm, probe_addr, PAGE,
						   &sub_ops), "insert");
		check(umn_interval_notifier_remove(&probe), "remove");
		start_end_free(&r, true);
		start_end_free(&r, false);
	}
}

static void run_partial(void *arg, uint64_t iters)
{
	struct umn_notifier_range r;

	for (uint64_t i = 0; i < iters; i++) {
		start_end_free(&r, true);
		check(umn_interval_notifier_insert(&probe, mm, probe_addr, PAGE,
						   &sub_ops), "insert");
		start_end_free(&r, false);
		check(umn_interval_notifier_remove(&probe), "remove");
	}
}

static void run_full(void *arg, uint64_t iters)
{
	struct umn_notifier_range r;

	/* an invalidation of others[0]'s page: full exclusion meanwhile */
	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, BASE, BASE + PAGE);
	umn_notifier_invalidate_range_start(&r);
	for (uint64_t i = 0; i < iters; i++) {
		check(umn_interval_notifier_insert(&probe, mm, probe_addr, PAGE,
						   &sub_ops), "insert");
		check(umn_interval_notifier_remove(&probe), "remove");
	}
	umn_notifier_invalidate_range_end(&r);
}

/* ---- 6w: remove waiting for an end called by another thread ---- */

struct handoff {
	int phase;              /* 0 idle, 1 B ready, 2 A started, 3 done */
	uint64_t t_signal;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int flag;
	bool use_umn;
	int cycles;
	double lat[4096];
};

static struct handoff ho = { .m = PTHREAD_MUTEX_INITIALIZER,
			     .cv = PTHREAD_COND_INITIALIZER };

static void spin_until(int *word, int value)
{
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) != value)
		__builtin_ia32_pause();
}

static void spin_ns(uint64_t ns)
{
	uint64_t t0 = bench_now_ns();

	while (bench_now_ns() - t0 < ns)
		__builtin_ia32_pause();
}

/* B: the waiter (remove, or cond wait). */
static void *waiter_main(void *arg)
{
	bench_pin(1);
	for (int i = 0; i < ho.cycles; i++) {
		uint64_t t1;

		if (ho.use_umn)
			check(umn_interval_notifier_insert(&probe, mm,
				probe_addr, PAGE, &sub_ops), "insert");
		__atomic_store_n(&ho.phase, 1, __ATOMIC_RELEASE);
		spin_until(&ho.phase, 2);
		if (ho.use_umn) {
			check(umn_interval_notifier_remove(&probe), "remove");
		} else {
			pthread_mutex_lock(&ho.m);
			while (!ho.flag)
				pthread_cond_wait(&ho.cv, &ho.m);
			ho.flag = 0;
			pthread_mutex_unlock(&ho.m);
		}
		t1 = bench_now_ns();
		ho.lat[i] = (double)(t1 - __atomic_load_n(&ho.t_signal,
							  __ATOMIC_ACQUIRE));
		__atomic_store_n(&ho.phase, 3, __ATOMIC_RELEASE);
		spin_until(&ho.phase, 0);
	}
	return NULL;
}

/* A: starts the invalidation, lets B block, then ends it (or signals). */
static double handoff_round(bool use_umn, int cycles)
{
	pthread_t b;
	struct umn_notifier_range r;

	ho.use_umn = use_umn;
	ho.cycles = cycles;
	ho.phase = 0;
	pthread_create(&b, NULL, waiter_main, NULL);
	for (int i = 0; i < cycles; i++) {
		spin_until(&ho.phase, 1);
		if (use_umn) {
			/* covers the probe: full exclusion */
			umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm,
						probe_addr, probe_addr + PAGE);
			umn_notifier_invalidate_range_start(&r);
		}
		__atomic_store_n(&ho.phase, 2, __ATOMIC_RELEASE);
		/* let B queue its remove (or reach the cond) and fall asleep */
		spin_ns(30000);
		__atomic_store_n(&ho.t_signal, bench_now_ns(), __ATOMIC_RELEASE);
		if (use_umn) {
			umn_notifier_invalidate_range_end(&r);
		} else {
			pthread_mutex_lock(&ho.m);
			ho.flag = 1;
			pthread_cond_signal(&ho.cv);
			pthread_mutex_unlock(&ho.m);
		}
		spin_until(&ho.phase, 3);
		__atomic_store_n(&ho.phase, 0, __ATOMIC_RELEASE);
	}
	pthread_join(b, NULL);
	return bench_median(ho.lat, cycles < BENCH_MAX_ROUNDS ? cycles :
			    BENCH_MAX_ROUNDS);
}

int main(int argc, char **argv)
{
	struct bench_case c[5] = {
		{ .label = "pthread mutex lock+unlock", .fn = run_mutex },
		{ .label = "idle insert+remove", .fn = run_idle },
		{ .label = "full excl.: deferred insert+remove", .fn = run_full },
		{ .label = "idle: ins, rm, start(X), end(X)", .fn = run_idle4 },
		{ .label = "partial: start(X), ins, end(X), rm", .fn = run_partial },
	};
	double wu[BENCH_MAX_ROUNDS], wc[BENCH_MAX_ROUNDS], mu, mc;
	int rounds, cycles;

	bench_init(argc, argv);
	rounds = bench_rounds();
	bench_pin(0);
	mm = umn_mm_new();
	others = calloc(NOTHERS, sizeof(*others));
	if (!mm || !others)
		return 1;
	for (unsigned long i = 0; i < NOTHERS; i++)
		check(umn_interval_notifier_insert(&others[i], mm,
			BASE + 2 * PAGE * i, PAGE, &sub_ops), "insert other");
	printf("== 6. insert + remove (tree of %lu others)\n", NOTHERS);
	bench_interleave(c, 5, rounds, bench_quick() ? 5e6 : 20e6);
	bench_print_cases(stdout, c, 5);

	bench_emit(&(struct bench_row){
		.id = "6", .name = "insert+remove, idle (1e4 others)",
		.subject = c[1].label, .subject_val = c[1].median,
		.baseline = c[0].label, .baseline_val = c[0].median,
		.unit = "ns", .ratio = c[1].median / c[0].median,
		.target_max = BENCH_NO_TARGET,
		.note = "two subscriptions-lock sections + tree insert/erase" });
	bench_emit(&(struct bench_row){
		.id = "6p", .name = "insert during partial exclusion",
		.subject = c[4].label, .subject_val = c[4].median,
		.baseline = c[3].label, .baseline_val = c[3].median,
		.unit = "ns", .ratio = c[4].median / c[3].median,
		.target_max = BENCH_NO_TARGET,
		.note = "X intersects nothing; the insert makes seq odd" });
	bench_emit(&(struct bench_row){
		.id = "6f", .name = "insert+remove during full exclusion",
		.subject = c[2].label, .subject_val = c[2].median,
		.baseline = c[1].label, .baseline_val = c[1].median,
		.unit = "ns", .ratio = c[2].median / c[1].median,
		.target_max = BENCH_NO_TARGET,
		.note = "queued on the deferred list, then unqueued" });

	/* 6w */
	cycles = bench_quick() ? 40 : 64;
	bench_unpin();
	bench_pin(0);
	for (int r = 0; r < rounds; r++) {
		wc[r] = handoff_round(false, cycles);
		wu[r] = handoff_round(true, cycles);
	}
	mu = bench_median(wu, rounds);
	mc = bench_median(wc, rounds);
	printf("  remove waiting for end(): end -> remove returns, median %.0f ns "
	       "(min %.0f); cond signal -> wait returns %.0f ns (min %.0f)\n",
	       mu, bench_min(wu, rounds), mc, bench_min(wc, rounds));
	bench_emit(&(struct bench_row){
		.id = "6w", .name = "remove waiting for end() from another thread",
		.subject = "end() -> remove() returns", .subject_val = mu,
		.baseline = "cond_signal -> cond_wait returns",
		.baseline_val = mc, .unit = "ns", .ratio = mu / mc,
		.target_max = BENCH_NO_TARGET,
		.note = "wake-up latency, threads pinned to CPUs 0 and 1" });
	for (unsigned long i = 0; i < NOTHERS; i++)
		umn_interval_notifier_remove(&others[i]);
	free(others);
	umn_mm_put(mm);
	return 0;
}
