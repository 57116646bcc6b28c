/* SPDX-License-Identifier: MIT */
/*
 * 4. read_begin + read_retry throughput from 1 and 2 reader threads while a
 *    third thread invalidates ranges that intersect no subscription (the
 *    state machine's partial exclusion: seq stays even, readers never wait).
 *    Reported: the scaling ratio, 2-reader throughput / 1-reader throughput.
 *
 * Each reader has its own subscription; the invalidator loops
 * start + end on a page no subscription covers.  Phases (1 reader, 2
 * readers) alternate in interleaved rounds with fresh threads; the same pair
 * without the invalidator is measured too.  Threads are not pinned.
 *
 * The machine has 2 cores: with the invalidator running, the 2-reader phase
 * has 3 busy threads on 2 cores (each gets ~2/3 of a core), so the ideal
 * ratio is ~1.33, not 2.  Without the invalidator the ideal is 2.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <umn/umn.h>
#include "bench.h"

#define BASE 0x200000000ul
#define SUBLEN (1ul << 20)

static struct umn_mm *mm;
static struct umn_interval_notifier subs[2];
static int go, stop;

struct reader {
	pthread_t thr;
	struct umn_interval_notifier *sub;
	unsigned long ops, retries;
};

static bool inv(struct umn_interval_notifier *s,
		const struct umn_notifier_range *r, unsigned long cur_seq)
{
	(void)r;
	umn_interval_set_seq(s, cur_seq);
	return true;
}

static const struct umn_interval_notifier_ops sub_ops = { .invalidate = inv };

static void wait_go(void)
{
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	unsigned long ops = 0, retries = 0;

	wait_go();
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (int i = 0; i < 256; i++) {
			unsigned long seq = umn_interval_read_begin(r->sub);

			retries += umn_interval_read_retry(r->sub, seq);
		}
		ops += 256;
	}
	r->ops = ops;
	r->retries = retries;
	return NULL;
}

static unsigned long invalidations;

static void *invalidator_main(void *arg)
{
	struct umn_notifier_range range;
	unsigned long a = BASE + 64 * SUBLEN, n = 0;

	(void)arg;
	wait_go();
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		umn_notifier_range_init(&range, UMN_NOTIFY_UNMAP, 0, mm, a,
					a + 4096);
		umn_mmap_read_lock(mm);
		umn_notifier_invalidate_range_start(&range);
		umn_notifier_invalidate_range_end(&range);
		umn_mmap_read_unlock(mm);
		n++;
	}
	invalidations = n;
	return NULL;
}

/* One phase: returns reader throughput in Mops/s. */
static double phase(int nreaders, bool invalidator, double seconds,
		    double *inv_rate)
{
	struct reader r[2] = { { .sub = &subs[0] }, { .sub = &subs[1] } };
	pthread_t ithr;
	uint64_t t0, t1;
	unsigned long total = 0;
	struct timespec ts;

	go = 0;
	stop = 0;
	invalidations = 0;
	for (int i = 0; i < nreaders; i++)
		pthread_create(&r[i].thr, NULL, reader_main, &r[i]);
	if (invalidator)
		pthread_create(&ithr, NULL, invalidator_main, NULL);
	t0 = bench_now_ns();
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	/* sleep: a spinning main thread would be a third/fourth busy thread */
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	t1 = bench_now_ns();
	for (int i = 0; i < nreaders; i++) {
		pthread_join(r[i].thr, NULL);
		total += r[i].ops;
	}
	if (invalidator)
		pthread_join(ithr, NULL);
	*inv_rate = (double)invalidations / ((double)(t1 - t0) / 1e9) / 1e6;
	return (double)total / ((double)(t1 - t0) / 1e9) / 1e6;
}

int main(int argc, char **argv)
{
	int rounds;
	double seconds;
	double thr[4][BENCH_MAX_ROUNDS], invr[4][BENCH_MAX_ROUNDS];
	double med[4], imed[4];
	static const char *lbl[4] = { "1 reader + invalidator",
				      "2 readers + invalidator",
				      "1 reader, no invalidator",
				      "2 readers, no invalidator" };
	char note[200];

	bench_init(argc, argv);
	rounds = bench_rounds();
	seconds = bench_quick() ? 0.05 : 0.2;
	mm = umn_mm_new();
	if (!mm)
		return 1;
	for (int i = 0; i < 2; i++)
		if (umn_interval_notifier_insert(&subs[i], mm,
						 BASE + (unsigned long)i * 2 *
						 SUBLEN, SUBLEN, &sub_ops))
			return 1;
	printf("== 4. read_begin + read_retry throughput, 1 vs 2 readers "
	       "(%d cores)\n", bench_ncpus());
	(void)phase(1, true, seconds / 2, &imed[0]);	/* warm-up */
	(void)phase(2, true, seconds / 2, &imed[0]);
	for (int r = 0; r < rounds; r++)
		for (int p = 0; p < 4; p++)
			thr[p][r] = phase(p % 2 + 1, p < 2, seconds,
					  &invr[p][r]);
	for (int p = 0; p < 4; p++) {
		med[p] = bench_median(thr[p], rounds);
		imed[p] = bench_median(invr[p], rounds);
		printf("  %-28s median %8.1f Mops/s  min %8.1f  "
		       "(invalidations %.2f M/s)\n", lbl[p], med[p],
		       bench_min(thr[p], rounds), imed[p]);
	}
	snprintf(note, sizeof(note),
		 "%d cores: readers + invalidator = 3 busy threads, ideal "
		 "~1.33x; invalidations %.2f/%.2f M/s", bench_ncpus(),
		 imed[0], imed[1]);
	bench_emit(&(struct bench_row){
		.id = "4", .name = "read throughput 2 thr / 1 thr, invalidator on",
		.subject = lbl[1], .subject_val = med[1],
		.baseline = lbl[0], .baseline_val = med[0],
		.unit = "Mops/s", .ratio = med[1] / med[0],
		.target_max = BENCH_NO_TARGET, .note = note });
	snprintf(note, sizeof(note), "%d cores: 2 busy threads, ideal 2.0x",
		 bench_ncpus());
	bench_emit(&(struct bench_row){
		.id = "4n", .name = "read throughput 2 thr / 1 thr, no invalidator",
		.subject = lbl[3], .subject_val = med[3],
		.baseline = lbl[2], .baseline_val = med[2],
		.unit = "Mops/s", .ratio = med[3] / med[2],
		.target_max = BENCH_NO_TARGET, .note = note });
	for (int i = 0; i < 2; i++)
		umn_interval_notifier_remove(&subs[i]);
	umn_mm_put(mm);
	return 0;
}
