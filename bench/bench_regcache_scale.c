/* SPDX-License-Identifier: MIT */
/*
 * 9. The registration cache under threads and churn: umn's <umn/regcache.h>
 *    beside UCX 1.13's ucs_rcache in the same process and run, with dummy
 *    registration and with mlock(2) (which pins pages, as ibv_reg_mr does).
 *
 *    9a-9d  hit throughput: threads do get + put of random regions among
 *           1e3 registered 16 KiB regions (32 KiB apart), 1, 2 and 8
 *           threads on the machine's cores, in fixed-time phases with fresh
 *           threads.  A perfectly parallel loop (thread-private xorshift
 *           and table reads) is measured in the same rounds: its 2/1
 *           throughput is what the cores give (these VMs: 1.5x-2x).
 *           9b: umn's 2/1 against that (target >= 0.9x); 9c: umn 2 threads
 *           against UCX 2 threads (target >= 5x); 9d: 8 threads (info).
 *    9e     miss: one unmap event over all the regions of the warm cache,
 *           then get + put of each (each is deregistered and registered
 *           again), per region (target <= 1.0x UCX).  (A fresh cache's
 *           misses are row 8c.)
 *    9f     invalidate, then get again: an unmap event for one region, then
 *           get + put of it (the dead region is deregistered, a new one
 *           registered), per round trip (target <= 1.0x UCX).  Events come
 *           without a system call on both sides: ucm_vm_munmap() for UCX
 *           (UCM's dispatch of VM_UNMAPPED), a non-blockable deferrable
 *           start/end on a umn_mm_new() address space for umn (what umn's
 *           sources deliver); UCX's hooks stay installed, umn's libc
 *           patches are not used (two patchers on one libc entry point is
 *           a failure the peers document).
 *    9m*    the same rows with mlock registration (RLIMIT_MEMLOCK raised;
 *           skipped with the reason when it cannot be).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <umn/umn.h>
#include <umn/regcache.h>
#include "bench.h"
#if BENCH_HAVE_UCX
#include "ucx_rcache.h"
#endif

#define NREG    1000ul
#define RLEN    (16ul << 10)
#define SPAN    (32ul << 10)
#define MAXTHR  8
#define ORDER   (1ul << 16)

enum kind { K_COMPUTE, K_UMN, K_UCX, NKINDS };
static const char *const kind_name[NKINDS] = { "parallel loop", "umn",
					       "UCX" };

static unsigned long area;
static unsigned long order[MAXTHR][ORDER];	/* per-thread lookup order */
static struct umn_mm *g_mm;
static struct umn_regcache *g_umn;
#if BENCH_HAVE_UCX
static ucs_rcache_t *g_ucx;
#endif
static bool g_mlock;

/* ---- registrations ---- */

/* registrations made, to show both caches did the same work */
static unsigned long n_umn_reg, n_ucx_reg;

static int dummy_reg(void *ctx, struct umn_regcache_region *r)
{
	(void)ctx; (void)r;
	n_umn_reg++;
	return 0;
}

static int mlock_reg(void *ctx, struct umn_regcache_region *r)
{
	n_umn_reg++;
	return umn_regcache_mlock_ops.reg(ctx, r);
}

static void mlock_dereg(void *ctx, struct umn_regcache_region *r)
{
	umn_regcache_mlock_ops.dereg(ctx, r);
}

static const struct umn_regcache_ops umn_mlock_ops = { mlock_reg,
						       mlock_dereg };

static void dummy_dereg(void *ctx, struct umn_regcache_region *r)
{
	(void)ctx; (void)r;
}

static const struct umn_regcache_ops umn_dummy_ops = { dummy_reg,
						       dummy_dereg };

static struct umn_regcache *umn_cache(void)
{
	struct umn_regcache_params p = {
		.ops = g_mlock ? &umn_mlock_ops : &umn_dummy_ops,
	};

	return umn_regcache_new(g_mm, &p);
}

#if BENCH_HAVE_UCX
static ucs_status_t ucx_mlock_reg(void *ctx, ucs_rcache_t *rc, void *arg,
				  ucs_rcache_region_t *region, uint16_t flags)
{
	(void)ctx; (void)rc; (void)arg; (void)flags;
	n_ucx_reg++;
	return mlock((void *)region->super.start,
		     region->super.end - region->super.start) ?
		       UCS_ERR_IO_ERROR : UCS_OK;
}

static void ucx_mlock_dereg(void *ctx, ucs_rcache_t *rc,
			    ucs_rcache_region_t *region)
{
	(void)ctx; (void)rc;
	munlock((void *)region->super.start,
		region->super.end - region->super.start);
}

static ucs_status_t ucx_dummy_reg(void *ctx, ucs_rcache_t *rc, void *arg,
				  ucs_rcache_region_t *region, uint16_t flags)
{
	n_ucx_reg++;
	return bench_ucx_reg(ctx, rc, arg, region, flags);
}

static ucs_rcache_t *ucx_cache(void)
{
	static const ucs_rcache_ops_t mlock_ops = {
		.mem_reg = ucx_mlock_reg, .mem_dereg = ucx_mlock_dereg,
		.dump_region = bench_ucx_dump,
	};
	static const ucs_rcache_ops_t dummy_ops = {
		.mem_reg = ucx_dummy_reg, .mem_dereg = bench_ucx_dereg,
		.dump_region = bench_ucx_dump,
	};

	return bench_ucx_rcache_new_ops(g_mlock ? &mlock_ops : &dummy_ops);
}
#endif

static unsigned long reg_addr(unsigned long i)
{
	return area + i * SPAN;
}

/* ---- one get + put ---- */

static inline void umn_hit(unsigned long i)
{
	struct umn_regcache_region *r;

	if (umn_regcache_get(g_umn, reg_addr(i), RLEN, &r))
		abort();
	umn_regcache_put(g_umn, r);
}

#if BENCH_HAVE_UCX
static inline void ucx_hit(ucs_rcache_t *rc, unsigned long i)
{
	ucs_rcache_region_t *r;

	if (ucs_rcache_get(rc, (void *)reg_addr(i), RLEN,
			   PROT_READ | PROT_WRITE, NULL, &r) != UCS_OK)
		abort();
	ucs_rcache_region_put(rc, r);
}
#endif

/* ---- throughput phases ---- */

static int go, stop;

struct thr {
	pthread_t t;
	enum kind kind;
	int id;
	unsigned long ops;
	unsigned long sink;
};

/* The perfectly parallel reference: private state, private table. */
static __thread unsigned long tls_table[1024];

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	const unsigned long *ord = order[t->id];
	unsigned long ops = 0, j = 0, x = 0x9e3779b97f4a7c15ul + (unsigned)t->id;
	unsigned long acc = 0;

	for (int i = 0; i < 1024; i++)
		tls_table[i] = (unsigned long)i * 2654435761ul;
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (int k = 0; k < 256; k++, j++) {
			switch (t->kind) {
			case K_COMPUTE:
				for (int m = 0; m < 4; m++) {
					x ^= x << 13;
					x ^= x >> 7;
					x ^= x << 17;
					acc += tls_table[x & 1023];
				}
				break;
			case K_UMN:
				umn_hit(ord[j & (ORDER - 1)]);
				break;
			default:
#if BENCH_HAVE_UCX
				ucx_hit(g_ucx, ord[j & (ORDER - 1)]);
#endif
				break;
			}
		}
		ops += 256;
	}
	t->ops = ops;
	t->sink = acc;
	return NULL;
}

/* Mops/s of nthr threads of one kind for `seconds`. */
static double phase(enum kind kind, int nthr, double seconds)
{
	struct thr t[MAXTHR];
	struct timespec ts;
	uint64_t t0, t1;
	unsigned long total = 0;

	go = 0;
	stop = 0;
	for (int i = 0; i < nthr; i++) {
		t[i] = (struct thr){ .kind = kind, .id = i };
		pthread_create(&t[i].t, NULL, thr_main, &t[i]);
	}
	t0 = bench_now_ns();
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);	/* the main thread sleeps: not a busy thread */
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	t1 = bench_now_ns();
	for (int i = 0; i < nthr; i++) {
		pthread_join(t[i].t, NULL);
		total += t[i].ops;
	}
	return (double)total / ((double)(t1 - t0) / 1e9) / 1e6;
}

/* ---- miss and churn rounds (ns per operation) ---- */

static void umn_unmap_event(unsigned long a, unsigned long len)
{
	struct umn_notifier_range range;

	umn_notifier_range_init(&range, UMN_NOTIFY_UNMAP,
				UMN_NOTIFIER_RANGE_DEFERRABLE, g_mm, a,
				a + len);
	umn_mmap_read_lock(g_mm);
	if (umn_notifier_invalidate_range_start_nonblock(&range) == 0)
		umn_notifier_invalidate_range_end(&range);
	umn_mmap_read_unlock(g_mm);
}

/*
 * Misses in a warm cache: one unmap event over all the regions, then get +
 * put of each (the cache deregisters the dead regions and registers every
 * region again), per region, the event included.
 */
static double umn_miss_round(void)
{
	uint64_t t0, t1;

	t0 = bench_now_ns();
	umn_unmap_event(area, NREG * SPAN);
	for (unsigned long i = 0; i < NREG; i++)
		umn_hit(i);
	t1 = bench_now_ns();
	return (double)(t1 - t0) / NREG;
}

static double umn_churn_round(unsigned long n)
{
	uint64_t t0, t1;

	t0 = bench_now_ns();
	for (unsigned long k = 0; k < n; k++) {
		unsigned long i = order[0][k & (ORDER - 1)] % NREG;

		umn_unmap_event(reg_addr(i), RLEN);
		umn_hit(i);
	}
	t1 = bench_now_ns();
	return (double)(t1 - t0) / (double)n;
}

#if BENCH_HAVE_UCX
static double ucx_miss_round(void)
{
	uint64_t t0, t1;

	t0 = bench_now_ns();
	ucm_vm_munmap((void *)area, NREG * SPAN);
	for (unsigned long i = 0; i < NREG; i++)
		ucx_hit(g_ucx, i);
	t1 = bench_now_ns();
	return (double)(t1 - t0) / NREG;
}

static double ucx_churn_round(unsigned long n)
{
	uint64_t t0, t1;

	t0 = bench_now_ns();
	for (unsigned long k = 0; k < n; k++) {
		unsigned long i = order[0][k & (ORDER - 1)] % NREG;

		ucm_vm_munmap((void *)reg_addr(i), RLEN);
		ucx_hit(g_ucx, i);
	}
	t1 = bench_now_ns();
	return (double)(t1 - t0) / (double)n;
}
#endif

/* ---- rows ---- */

static void row(const char *id, const char *name, const char *subject,
		double sv, const char *baseline, double bv, const char *unit,
		double ratio, const char *target, double tmax, bool higher,
		const char *note)
{
	bench_emit(&(struct bench_row){
		.id = id, .name = name, .subject = subject, .subject_val = sv,
		.baseline = baseline, .baseline_val = bv, .unit = unit,
		.ratio = ratio, .target = target,
		.target_max = target[0] ? tmax : BENCH_NO_TARGET,
		.higher_is_better = higher, .note = note });
}

/* Per-round ratio a[r] / b[r], median. */
static double round_ratio(const double *a, const double *b, int n)
{
	double v[BENCH_MAX_ROUNDS];

	for (int r = 0; r < n; r++)
		v[r] = a[r] / b[r];
	return bench_median(v, n);
}

static void fill_caches(void)
{
	for (unsigned long i = 0; i < NREG; i++) {
		umn_hit(i);
#if BENCH_HAVE_UCX
		ucx_hit(g_ucx, i);
#endif
	}
}

static void run_set(const char *p, const char *regname)
{
	static const int nthr[3] = { 1, 2, 8 };
	double thr[NKINDS][3][BENCH_MAX_ROUNDS], med[NKINDS][3];
	double um[BENCH_MAX_ROUNDS], ux[BENCH_MAX_ROUNDS];
	double uc[BENCH_MAX_ROUNDS], xc[BENCH_MAX_ROUNDS];
	int rounds = bench_rounds();
	double secs = bench_quick() ? 0.05 : 0.15;
	unsigned long nchurn = bench_quick() ? 2000 : 10000;
	char id[8], name[96], note[200], subj[96], base[96];
	bool ucx = BENCH_HAVE_UCX;
	double s_umn, s_ref;

	printf("== 9%s. registration cache, %s registration: umn vs UCX "
	       "ucs_rcache, %d cores\n", p, regname, bench_ncpus());
	g_umn = umn_cache();
#if BENCH_HAVE_UCX
	g_ucx = ucx_cache();
	if (!g_ucx) {
		fprintf(stderr, "ucs_rcache_create failed\n");
		exit(1);
	}
#endif
	if (!g_umn) {
		fprintf(stderr, "umn_regcache_new: %s\n", strerror(errno));
		exit(1);
	}
	fill_caches();
	for (int k = 0; k < NKINDS; k++)	/* warm-up */
		(void)phase((enum kind)k, 2, secs / 2);
	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < NKINDS; k++)
			for (int n = 0; n < 3; n++) {
				if ((k == K_UCX && !ucx) ||
				    (k == K_COMPUTE && n == 2)) {
					thr[k][n][r] = -1;
					continue;
				}
				thr[k][n][r] = phase((enum kind)k, nthr[n],
						     secs);
			}
	for (int k = 0; k < NKINDS; k++)
		for (int n = 0; n < 3; n++) {
			med[k][n] = bench_median(thr[k][n], rounds);
			if (med[k][n] < 0)
				continue;
			printf("  %-14s %d thread%s median %8.2f Mops/s  min "
			       "%8.2f\n", kind_name[k], nthr[n],
			       nthr[n] > 1 ? "s" : " ", med[k][n],
			       bench_min(thr[k][n], rounds));
		}
	s_umn = round_ratio(thr[K_UMN][1], thr[K_UMN][0], rounds);
	s_ref = round_ratio(thr[K_COMPUTE][1], thr[K_COMPUTE][0], rounds);
	printf("  2/1 scaling: umn %.2fx, parallel loop %.2fx, UCX %.2fx; "
	       "8/1: umn %.2fx, UCX %.2fx\n", s_umn, s_ref,
	       ucx ? round_ratio(thr[K_UCX][1], thr[K_UCX][0], rounds) : -1,
	       round_ratio(thr[K_UMN][2], thr[K_UMN][0], rounds),
	       ucx ? round_ratio(thr[K_UCX][2], thr[K_UCX][0], rounds) : -1);

	snprintf(id, sizeof(id), "9%sa", p);
	snprintf(name, sizeof(name), "regcache hit, 1 thread, 1e3 (%s)",
		 regname);
	row(id, name, "umn get+put, 1 thread", med[K_UMN][0],
	    ucx ? "UCX 1.13 ucs_rcache, 1 thread" : "UCX: not available",
	    med[K_UCX][0], "Mops/s",
	    ucx ? round_ratio(thr[K_UMN][0], thr[K_UCX][0], rounds) : -1, "",
	    0, true, "throughput; random regions of 16 KiB, same order");

	snprintf(id, sizeof(id), "9%sb", p);
	snprintf(name, sizeof(name), "regcache hit scaling 2/1 thr (%s)",
		 regname);
	snprintf(note, sizeof(note), "umn %.2f -> %.2f Mops/s; loop %.2f -> "
		 "%.2f Mops/s; %d cores%s", med[K_UMN][0], med[K_UMN][1],
		 med[K_COMPUTE][0], med[K_COMPUTE][1], bench_ncpus(),
		 s_ref < 1.3 ? "; the loop did not scale: no second core "
			       "was free in this run, the row shows nothing" :
			       "");
	row(id, name, "umn 2 threads / 1 thread", s_umn,
	    "parallel loop 2 thr / 1 thr", s_ref, "x", s_umn / s_ref,
	    ">= 0.9x", 0.9, true, note);

	for (int n = 1; n < 3; n++) {
		snprintf(id, sizeof(id), "9%s%c", p, n == 1 ? 'c' : 'd');
		snprintf(name, sizeof(name), "regcache hit, %d threads (%s)",
			 nthr[n], regname);
		snprintf(subj, sizeof(subj), "umn get+put, %d threads",
			 nthr[n]);
		snprintf(base, sizeof(base), "UCX 1.13 ucs_rcache, %d threads",
			 nthr[n]);
		snprintf(note, sizeof(note), "%d threads on %d cores; UCX "
			 "%d/1: %.2fx", nthr[n], bench_ncpus(), nthr[n],
			 ucx ? round_ratio(thr[K_UCX][n], thr[K_UCX][0],
					   rounds) : -1);
		row(id, name, subj, med[K_UMN][n],
		    ucx ? base : "UCX: not available", med[K_UCX][n], "Mops/s",
		    ucx ? round_ratio(thr[K_UMN][n], thr[K_UCX][n], rounds)
			: -1,
		    n == 1 ? ">= 5x" : "", 5.0, true, note);
	}

	/* misses: everything invalidated at once, then got again */
	n_umn_reg = n_ucx_reg = 0;
	for (int r = 0; r < rounds; r++) {
#if BENCH_HAVE_UCX
		ux[r] = ucx_miss_round();
#else
		ux[r] = -1;
#endif
		um[r] = umn_miss_round();
	}
	snprintf(id, sizeof(id), "9%se", p);
	snprintf(name, sizeof(name), "regcache miss: dereg + reg (%s)",
		 regname);
	printf("  miss: umn %.1f ns, UCX %.1f ns per region (medians of %d "
	       "rounds of %lu); registrations: umn %lu, UCX %lu\n",
	       bench_median(um, rounds), bench_median(ux, rounds), rounds,
	       NREG, n_umn_reg, n_ucx_reg);
	row(id, name, "umn: unmap all, get+put each",
	    bench_median(um, rounds),
	    ucx ? "UCX: ucm_vm_munmap all, get+put each" :
		  "UCX: not available",
	    bench_median(ux, rounds), "ns",
	    ucx ? round_ratio(um, ux, rounds) : -1, "<= 1.0x", 1.0, false,
	    "per region: dereg + reg in a warm cache of 1e3");

	/* churn: unmap event, then get the region again */
	n_umn_reg = n_ucx_reg = 0;
	for (int r = 0; r < rounds; r++) {
#if BENCH_HAVE_UCX
		xc[r] = ucx_churn_round(nchurn);
#else
		xc[r] = -1;
#endif
		uc[r] = umn_churn_round(nchurn);
	}
	printf("  invalidate + reget: umn %.1f ns, UCX %.1f ns (medians of %d "
	       "rounds of %lu); registrations: umn %lu, UCX %lu\n",
	       bench_median(uc, rounds), bench_median(xc, rounds), rounds,
	       nchurn, n_umn_reg, n_ucx_reg);
	snprintf(id, sizeof(id), "9%sf", p);
	snprintf(name, sizeof(name), "regcache invalidate + reget (%s)",
		 regname);
	row(id, name, "umn: unmap event, get+put", bench_median(uc, rounds),
	    ucx ? "UCX: ucm_vm_munmap, get+put" : "UCX: not available",
	    bench_median(xc, rounds), "ns",
	    ucx ? round_ratio(uc, xc, rounds) : -1, "<= 1.0x", 1.0, false,
	    "events without a syscall on both sides; 1e3 regions");

	if (umn_regcache_destroy(g_umn))
		abort();
#if BENCH_HAVE_UCX
	ucs_rcache_destroy(g_ucx);
#endif
}

/*
 * mlock of the 1e3 regions needs RLIMIT_MEMLOCK >= 16 MiB, or CAP_IPC_LOCK
 * (which lifts the limit): raise the limit if it is lower (root with
 * CAP_SYS_RESOURCE can), then try to lock every region once.  NULL if
 * mlock rows can run, else the reason.
 */
static const char *mlock_possible(void)
{
	static char why[200];
	rlim_t need = NREG * RLEN + (1ul << 20);
	struct rlimit rl;
	int raise_err = 0;

	if (getrlimit(RLIMIT_MEMLOCK, &rl))
		return "getrlimit(RLIMIT_MEMLOCK) failed";
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit nl = rl;

		nl.rlim_cur = need;
		if (nl.rlim_max != RLIM_INFINITY && nl.rlim_max < need)
			nl.rlim_max = need;
		if (setrlimit(RLIMIT_MEMLOCK, &nl))
			raise_err = errno;
	}
	for (unsigned long i = 0; i < NREG; i++)
		if (mlock((void *)reg_addr(i), RLEN)) {
			int e = errno;

			munlock((void *)area, NREG * SPAN);
			snprintf(why, sizeof(why), "mlock of %lu KiB: %s "
				 "(RLIMIT_MEMLOCK %lu KiB%s%s)",
				 (unsigned long)(NREG * RLEN) >> 10,
				 strerror(e), (unsigned long)rl.rlim_cur >> 10,
				 raise_err ? ", cannot be raised: " : "",
				 raise_err ? strerror(raise_err) : "");
			return why;
		}
	munlock((void *)area, NREG * SPAN);
	printf("  mlock: RLIMIT_MEMLOCK %s\n", raise_err ?
	       "not raised (no CAP_SYS_RESOURCE), locking allowed anyway "
	       "(CAP_IPC_LOCK)" : "sufficient or raised");
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t rng = 0x2545f4914f6cdd1dull;
	const char *why;

	bench_init(argc, argv);
	if (bench_rounds() > BENCH_MAX_ROUNDS)
		return 1;
	area = (unsigned long)mmap(NULL, NREG * SPAN, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
				   -1, 0);
	g_mm = umn_mm_new();
	if (area == (unsigned long)MAP_FAILED || !g_mm)
		return 1;
	for (int t = 0; t < MAXTHR; t++)
		for (unsigned long i = 0; i < ORDER; i++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			order[t][i] = rng % NREG;
		}
	g_mlock = false;
	run_set("", "dummy");
	why = mlock_possible();
	if (why) {
		printf("== 9m. mlock registration: skipped: %s\n", why);
		row("9m", "regcache, mlock registration", "skipped", -1,
		    "skipped", -1, "", -1, "", 0, false, why);
	} else {
		g_mlock = true;
		run_set("m", "mlock");
	}
	umn_mm_put(g_mm);
	return 0;
}
