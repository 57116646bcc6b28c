/* SPDX-License-Identifier: MIT */
/*
 * churn: threads insert and remove overlapping interval subscriptions while
 * other threads invalidate overlapping ranges of a model region (madvise
 * DONTNEED: one CLEAR range per call) and devices write it (each page
 * checked against the primary as it is written).
 * Checked:
 *  - a callback lands at most once per invalidation, and exactly once when
 *    the subscription was inserted before the invalidation began and removed
 *    after it ended, and only if the ranges intersect;
 *  - no callback runs after remove returned (flag, then the memory is freed
 *    so ASan sees a late one);
 *  - no device ever holds an entry the primary does not map (-EIO);
 *  - nothing leaks (frames back to zero; LSan in the ASan build).
 * Runs t_stress_seconds(); prints the seed.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "common.h"

#define REGION_PAGES 256UL
#define NSUBBERS 2
#define NINVAL 2
#define NDEV 2
#define LOG_CAP 4096
#define MAX_INV (1UL << 20)
#define MAX_LIFE (1UL << 18)

struct inv {
	unsigned long start, end;     /* [start, end) */
	unsigned long t_begin, t_end; /* ticks */
};

struct life {
	unsigned long start, last;    /* [start, last] */
	unsigned long t_in, t_out;
	unsigned long nlog;           /* atomic */
	unsigned long log[LOG_CAP];   /* invalidation ids */
};

struct csub {
	struct umn_interval_notifier sub;
	struct life *life;
	int dead;
};

static struct umn_model *model;
static unsigned long region;
static double t_end;
static unsigned long tick = 1;
static struct inv *invs;
static unsigned long ninv = 1;              /* id 0 is "none" */
static struct life **lives;
static unsigned long nlives;
static unsigned long failures;
static __thread unsigned long cur_inv;      /* set by the invalidator */

static unsigned long now_tick(void)
{
	return __atomic_fetch_add(&tick, 1, __ATOMIC_SEQ_CST);
}

static void fail(const char *what)
{
	fprintf(stderr, "churn: %s\n", what);
	__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
}

static bool churn_invalidate(struct umn_interval_notifier *sub,
			     const struct umn_notifier_range *range,
			     unsigned long cur_seq)
{
	struct csub *cs = (struct csub *)sub;
	unsigned long n;

	if (__atomic_load_n(&cs->dead, __ATOMIC_ACQUIRE))
		fail("callback after remove returned");
	umn_interval_set_seq(sub, cur_seq);
	if (!cur_inv) {
		fail("callback of an unknown invalidation");
		return true;
	}
	n = __atomic_fetch_add(&cs->life->nlog, 1, __ATOMIC_RELAXED);
	if (n < LOG_CAP)
		cs->life->log[n] = cur_inv;
	return true;
}

static const struct umn_interval_notifier_ops churn_ops = {
	.invalidate = churn_invalidate,
};

static void *subber(void *arg)
{
	uint64_t rnd = (uint64_t)(uintptr_t)arg;

	while (t_now() < t_end) {
		unsigned long i = __atomic_fetch_add(&nlives, 1, __ATOMIC_RELAXED);
		unsigned long a = t_rand(&rnd) % REGION_PAGES;
		unsigned long n = 1 + t_rand(&rnd) % (REGION_PAGES - a);
		struct csub *cs = calloc(1, sizeof(*cs));
		struct life *l = calloc(1, sizeof(*l));

		CHECK(cs && l);
		if (i >= MAX_LIFE) {
			free(cs);
			free(l);
			break;
		}
		l->start = region + a * PAGE;
		l->last = l->start + n * PAGE - 1;
		cs->life = l;
		CHECK_EQ(umn_interval_notifier_insert(&cs->sub, umn_model_mm(model),
						      l->start, n * PAGE,
						      &churn_ops), 0);
		l->t_in = now_tick();
		if (t_rand(&rnd) & 1)
			usleep((useconds_t)(t_rand(&rnd) % 200));
		l->t_out = now_tick();
		CHECK_EQ(umn_interval_notifier_remove(&cs->sub), 0);
		__atomic_store_n(&cs->dead, 1, __ATOMIC_RELEASE);
		free(cs);       /* a late callback is a use after free */
		lives[i] = l;
	}
	return NULL;
}

static void *invalidator(void *arg)
{
	uint64_t rnd = (uint64_t)(uintptr_t)arg;

	while (t_now() < t_end) {
		unsigned long id = __atomic_fetch_add(&ninv, 1, __ATOMIC_RELAXED);
		unsigned long a = t_rand(&rnd) % REGION_PAGES;
		unsigned long n = 1 + t_rand(&rnd) % (REGION_PAGES - a);
		struct inv *v = &invs[id];

		if (id >= MAX_INV)
			break;
		v->start = region + a * PAGE;
		v->end = v->start + n * PAGE;
		cur_inv = id;
		v->t_begin = now_tick();
		CHECK_EQ(umn_model_madvise_dontneed(model, v->start, n * PAGE), 0);
		v->t_end = now_tick();
		cur_inv = 0;
		if (t_rand(&rnd) & 1)
			usleep((useconds_t)(t_rand(&rnd) % 50));
	}
	return NULL;
}

static void *device(void *arg)
{
	uint64_t rnd = (uint64_t)(uintptr_t)arg;
	struct umn_mirror *m = mirror_open(model, NULL);
	char *buf = malloc(16 * PAGE);
	unsigned long ops = 0;

	CHECK(buf != NULL);
	umn_mirror_set_fault_delay(m, 20);
	unsigned long half = REGION_PAGES / NDEV, base = ((uintptr_t)arg % NDEV) * half;

	/* Each device writes its own part: two devices storing to the same
	 * bytes at once would be a data race of the program, not of umn. */
	while (t_now() < t_end) {
		unsigned long a = base + t_rand(&rnd) % (half - 16);
		unsigned long n = 1 + t_rand(&rnd) % 16;
		struct umn_mirror_cmd cmd;
		int ret;

		memset(buf, (int)(ops & 0xff), n * PAGE);
		/* Writes only: a write fault fills an empty entry without an
		 * invalidation, so every invalidation here is an invalidator's
		 * (a read would map the zero frame, and a later write would
		 * break COW with an invalidation of the device's own). */
		ret = dev(umn_mirror_write, m, region + a * PAGE, buf, n, &cmd);
		if (ret == -EIO)
			fail("device handed out a stale entry");
		CHECK(ret == 0 || ret == -EIO || ret == -EBUSY);
		ops++;
	}
	if (umn_mirror_verify(m))
		fail("stale entry left in a device");
	umn_mirror_destroy(m);
	free(buf);
	printf("# device: %lu operations\n", ops);
	return NULL;
}

static int cmp_ul(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

static int cmp_begin(const void *a, const void *b)
{
	unsigned long x = invs[*(const unsigned long *)a].t_begin;
	unsigned long y = invs[*(const unsigned long *)b].t_begin;

	return x < y ? -1 : x > y;
}

/* The exactly-once check, after every thread is done: for each lifetime,
 * the invalidations that began inside it (found by t_begin order). */
static void check_lives(void)
{
	unsigned long n_inv = ninv < MAX_INV ? ninv : MAX_INV;
	unsigned long *order = malloc(n_inv * sizeof(*order)), checked = 0;

	CHECK(order != NULL);
	for (unsigned long id = 1; id < n_inv; id++)
		order[id - 1] = id;
	qsort(order, n_inv - 1, sizeof(*order), cmp_begin);
	/* Busy periods: the union of [t_begin, t_end].  A subscription inserted
	 * inside one may be deferred (the tree is frozen) until it ends, so it
	 * owes callbacks only for invalidations beginning after that. */
	unsigned long *busy_b = malloc(n_inv * sizeof(*busy_b));
	unsigned long *busy_e = malloc(n_inv * sizeof(*busy_e)), nbusy = 0;

	CHECK(busy_b && busy_e);
	for (unsigned long j = 0; j + 1 < n_inv; j++) {
		struct inv *v = &invs[order[j]];
		unsigned long e = v->t_end ? v->t_end : ULONG_MAX;

		if (nbusy && v->t_begin <= busy_e[nbusy - 1]) {
			if (e > busy_e[nbusy - 1])
				busy_e[nbusy - 1] = e;
		} else {
			busy_b[nbusy] = v->t_begin;
			busy_e[nbusy++] = e;
		}
	}
	if (nlives > MAX_LIFE)
		nlives = MAX_LIFE;
	for (unsigned long i = 0; i < nlives; i++) {
		struct life *l = lives[i];
		unsigned long n, lo = 0, hi = n_inv - 1;

		if (!l)
			continue;
		n = l->nlog;
		if (n > LOG_CAP) {
			fail("log overflow");
			continue;
		}
		qsort(l->log, n, sizeof(l->log[0]), cmp_ul);
		for (unsigned long k = 0; k < n; k++) {
			struct inv *v = &invs[l->log[k]];

			if (k && l->log[k] == l->log[k - 1])
				fail("two callbacks for one invalidation");
			if (v->end <= l->start || v->start > l->last)
				fail("callback for a range that does not intersect");
		}
		unsigned long q = l->t_in, blo = 0, bhi = nbusy;

		while (blo < bhi) {        /* last busy period starting <= t_in */
			unsigned long mid = (blo + bhi) / 2;

			if (busy_b[mid] <= l->t_in)
				blo = mid + 1;
			else
				bhi = mid;
		}
		if (blo && busy_e[blo - 1] >= l->t_in)
			q = busy_e[blo - 1];
		while (lo < hi) {              /* first t_begin > q */
			unsigned long mid = (lo + hi) / 2;

			if (invs[order[mid]].t_begin > q)
				hi = mid;
			else
				lo = mid + 1;
		}
		for (unsigned long j = lo; j < n_inv - 1; j++) {
			unsigned long id = order[j];
			struct inv *v = &invs[id];

			if (v->t_begin > l->t_out)
				break;
			if (v->t_end && v->t_end < l->t_out &&
			    v->start <= l->last && v->end > l->start) {
				checked++;
				if (!bsearch(&id, l->log, n, sizeof(id), cmp_ul))
					fail("a callback missed an invalidation");
			}
		}
		free(l);
	}
	free(order);
	free(busy_b);
	free(busy_e);
	printf("# %lu subscriptions, %lu invalidations, %lu pairs checked\n",
	       nlives, n_inv - 1, checked);
}

int main(void)
{
	uint64_t seed = t_seed("churn");
	pthread_t t[NSUBBERS + NINVAL + NDEV];
	int nt = 0;

	model = umn_model_new(0);
	region = map(model, REGION_PAGES * PAGE, UMN_MODEL_PROT_READ |
		     UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	invs = calloc(MAX_INV, sizeof(*invs));
	lives = calloc(MAX_LIFE, sizeof(*lives));
	CHECK(invs && lives);
	t_end = t_now() + t_stress_seconds(3);
	for (int i = 0; i < NSUBBERS; i++)
		pthread_create(&t[nt++], NULL, subber, (void *)(uintptr_t)(seed + 1 + i));
	for (int i = 0; i < NINVAL; i++)
		pthread_create(&t[nt++], NULL, invalidator, (void *)(uintptr_t)(seed + 11 + i));
	for (int i = 0; i < NDEV; i++)
		pthread_create(&t[nt++], NULL, device, (void *)(uintptr_t)(seed + 21 + i));
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);

	check_lives();
	CHECK_EQ(umn_model_munmap(model, region, REGION_PAGES * PAGE), 0);
	CHECK_EQ(umn_model_frames_in_use(model), 0);
	umn_model_destroy(model);
	free(invs);
	free(lives);
	CHECK_EQ(failures, 0);
	printf("1 passed, 0 failed\n");
	return 0;
}
