/* SPDX-License-Identifier: MIT */
/*
 * Never stale: a registration cache on umn_mm_self() under real memory
 * churn, checked by an oracle that does not trust umn.
 *
 * Worker threads own buffers of 4 KiB to 8 MiB, either malloc'd (free,
 * realloc, madvise(DONTNEED) of interior pages) or mmap'd by the test
 * (munmap, mremap, madvise(DONTNEED), munmap + re-mmap at the same address),
 * and look random sub-ranges of them up in one shared cache.  The cache's
 * reg callback is the oracle's recorder: for every page of the region it
 * writes down
 *   - the physical frame number, from /proc/self/pagemap (as root), and
 *   - the identity of the page, read from the canary the owner wrote in it:
 *     (allocation id, page generation).  The owner bumps a page's generation
 *     whenever it replaces the page (DONTNEED, re-mmap, a realloc that adds
 *     pages), so a region registered before the change carries the old one.
 * On every get the pages of the request (the caller owns them: nobody else
 * may change them meanwhile) must still map the recorded frames, and, where
 * the recorded identity is the caller's allocation, the current generation.
 * A page whose frame was not present at registration, or that belonged to
 * someone else then, is checked by the other criterion only.  Frames catch
 * any replacement the kernel made; identities catch a replacement that got
 * the same frame back (the page allocator reuses freed frames at once).
 * Zero stale hits are allowed.
 *
 * --negative-control: the oracle must bite.  A buffer is registered, then
 * unmapped and mapped again at the same address with raw `syscall`
 * instructions that no umn source sees; the next get hits the stale region
 * and the oracle must report it.  Exits 0 only if it did.
 *
 *   UMN_STRESS_SECONDS=300 UMN_SEED=<seed> ./stress_test_regcache_stale
 *   ./stress_test_regcache_stale --negative-control
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <umn/umn.h>
#include "harness.h"
#if __has_include(<umn/regcache.h>)
#include <umn/regcache.h>
#define T_LIBRARY_CACHE 1
#else
#include "regcache.h"	/* consumers/regcache, until the library has one */
#define T_LIBRARY_CACHE 0
#endif

#define PAGE          4096ul
#define NTHREADS      3
#define SLOTS         6
#define MIN_SIZE      (4ul << 10)
#define MAX_SIZE      (8ul << 20)
#define STALL_SECONDS 20
#define SIGBUF_PAGES  16
#define MAX_REPORTS   10
#define REC_MAGIC     0x5245434fu	/* "RECO" */
#define CANARY_SALT   0xc3a5c85c97cb3127ull

#define LOAD(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v)   __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)

static uint64_t g_seed;
static int g_pagemap = -1;
static bool g_frames;		/* pagemap shows frame numbers here */
static int g_stop;

static struct {
	unsigned long ops, gets, hits, misses, held_changes;
	unsigned long frames_checked, idents_checked, unchecked;
	unsigned long stale, stale_frames, stale_idents, bad_region;
	unsigned long allocs, frees, reallocs, mremaps, dontneeds, remaps;
	unsigned long signal_remaps;
} st;

/* ---- buffers: one owner thread each ---- */

enum buf_kind { BUF_NONE, BUF_MALLOC, BUF_MMAP };

struct buf {
	enum buf_kind kind;
	unsigned long addr, len;
	uint32_t uid;			/* unique per allocation */
	uint64_t *id;			/* per page of [page_base, end) */
	unsigned long npages;
};

static uint32_t g_uid;

static unsigned long page_base(unsigned long a)
{
	return a & ~(PAGE - 1);
}

static unsigned long npages_of(unsigned long addr, unsigned long len)
{
	return (page_base(addr + len - 1) - page_base(addr)) / PAGE + 1;
}

/* Where the canary of page i of the buffer lives (0: none fits). */
static unsigned long slot_of(unsigned long addr, unsigned long len,
			     unsigned long i)
{
	unsigned long s = page_base(addr) + i * PAGE;

	if (s < addr)
		s = addr;		/* first, partial page (16-aligned) */
	return s + 16 <= addr + len ? s : 0;
}

static uint64_t ident(uint32_t uid, uint32_t gen)
{
	return (uint64_t)uid << 32 | gen;
}

static void write_canaries(struct buf *b)
{
	for (unsigned long i = 0; i < b->npages; i++) {
		unsigned long s = slot_of(b->addr, b->len, i);
		uint64_t id = b->id[i];

		if (!s)
			continue;
		((volatile uint64_t *)s)[0] = id;
		((volatile uint64_t *)s)[1] = id ^ CANARY_SALT ^ s;
	}
}

/*
 * Size the identity array to the buffer's pages: the first keep pages stay
 * what they were, the others get the identity (uid, 1).  A page's identity
 * changes only in two ways: its generation goes up when the owner knows it
 * replaced the page (page_replaced), or it gets a new uid when the owner
 * cannot know (a realloc that grows in place may or may not reuse the same
 * memory): then no earlier record can match its uid, and only its frame
 * is checked against records older than that.
 */
static void ids_resize(struct buf *b, unsigned long keep, uint32_t uid)
{
	unsigned long n = npages_of(b->addr, b->len);
	uint64_t *id = realloc(b->id, n * sizeof(*id));

	CHECK(id);
	b->id = id;
	for (unsigned long i = keep < n ? keep : n; i < n; i++)
		id[i] = ident(uid, 1);
	b->npages = n;
}

static void page_replaced(struct buf *b, unsigned long i)
{
	b->id[i]++;
}

static void buf_new_identity(struct buf *b)
{
	b->uid = ADD(&g_uid, 1);
	ids_resize(b, 0, b->uid);
	write_canaries(b);
}

/* ---- the oracle's record of one registration ---- */

struct rec_page {
	uint64_t pfn;			/* 0: not present / not visible */
	uint64_t ident;			/* 0: not ours to know */
};

struct rec {
	uint32_t magic;
	unsigned long start, len;
	struct rec_page pg[];
};

/* The request being served on this thread: reg records identities for
 * the pages inside it (the caller's own pages, canaries in place). */
static __thread const struct buf *tls_req;
static __thread bool tls_reg_called;

/* Frame numbers of n pages from addr (0 where absent). */
static void read_frames(unsigned long addr, unsigned long n, uint64_t *out)
{
	size_t want = n * sizeof(uint64_t), got = 0;
	off_t off = (off_t)(addr / PAGE * sizeof(uint64_t));

	while (got < want) {
		ssize_t r = pread(g_pagemap, (char *)out + got, want - got,
				  off + (off_t)got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	memset((char *)out + got, 0, want - got);
	for (unsigned long i = 0; i < n; i++) {
		uint64_t e = out[i];

		/* bit 63 present, bits 0-54 the frame */
		out[i] = (e >> 63) & 1 ? e & ((1ull << 55) - 1) : 0;
	}
}

static int oracle_record(unsigned long start, unsigned long len,
			 struct rec **out)
{
	unsigned long n = len / PAGE;
	struct rec *r = malloc(sizeof(*r) + n * sizeof(r->pg[0]));
	uint64_t *frames = malloc(n * sizeof(uint64_t));
	const struct buf *b = tls_req;

	if (!r || !frames) {
		free(r);
		free(frames);
		return -ENOMEM;
	}
	tls_reg_called = true;
	r->magic = REC_MAGIC;
	r->start = start;
	r->len = len;
	if (g_frames)
		read_frames(start, n, frames);
	else
		memset(frames, 0, n * sizeof(uint64_t));
	for (unsigned long i = 0; i < n; i++) {
		unsigned long page = start + i * PAGE;

		r->pg[i].pfn = frames[i];
		r->pg[i].ident = 0;
		if (b && page >= page_base(b->addr) &&
		    page < page_base(b->addr) + b->npages * PAGE) {
			unsigned long j = (page - page_base(b->addr)) / PAGE;
			unsigned long s = slot_of(b->addr, b->len, j);

			if (s && ((volatile uint64_t *)s)[1] ==
				 (((volatile uint64_t *)s)[0] ^ CANARY_SALT ^ s))
				r->pg[i].ident = ((volatile uint64_t *)s)[0];
		}
	}
	free(frames);
	*out = r;
	return 0;
}

static void oracle_forget(struct rec *r)
{
	CHECK(r->magic == REC_MAGIC);
	r->magic = 0;
	free(r);
}

/* The cache, through a thin adapter (rc_adapter.h). */
static int t_reg(unsigned long start, unsigned long len, struct rec **out)
{
	return oracle_record(start, len, out);
}

static void t_dereg(struct rec *r)
{
	oracle_forget(r);
}

/* ---- the cache under test, behind a few names ---- */
#if T_LIBRARY_CACHE
#error "todo"
#else
typedef struct regcache rc_cache_t;
typedef struct regcache_region rc_region_t;
struct rc_stats {
	unsigned long hits, misses, invalidated, deferred;
};

static int tpl_reg(void *ctx, unsigned long start, unsigned long len,
		   void **handle)
{
	struct rec *r;
	int ret = t_reg(start, len, &r);

	(void)ctx;
	if (!ret)
		*handle = r;
	return ret;
}

static void tpl_dereg(void *ctx, void *handle)
{
	(void)ctx;
	t_dereg(handle);
}

static const struct regcache_ops tpl_ops = { tpl_reg, tpl_dereg };

static rc_cache_t *rc_new(struct umn_mm *mm)
{
	return regcache_new(mm, &tpl_ops, NULL);
}

#define rc_get(rc, a, l, out) regcache_get(rc, a, l, out)
#define rc_put(rc, r)         regcache_put(rc, r)
#define rc_flush(rc)          regcache_flush(rc)
#define rc_destroy(rc)        regcache_destroy(rc)
#define rc_rec(r)             ((const struct rec *)(r)->handle)
#define rc_start(r)           ((r)->start)
#define rc_len(r)             ((r)->len)

static void rc_get_stats(rc_cache_t *rc, struct rc_stats *out)
{
	struct regcache_stats s;

	regcache_stats(rc, &s);
	out->hits = s.hits;
	out->misses = s.misses;
	out->invalidated = s.invalidated;
	out->deferred = s.deferred;
}
#endif

static void report(const char *what, const struct buf *b, unsigned long page,
		   unsigned long a, unsigned long b2)
{
	unsigned long n = ADD(&st.stale, 1);

	if (n <= MAX_REPORTS) {
		fprintf(stderr,
			"regcache_stale: STALE hit (%s): buffer %#lx+%#lx "
			"(id %u) page %#lx: recorded %#lx, now %#lx "
			"(replay: UMN_SEED=%llu)\n",
			what, b->addr, b->len, b->uid, page, a, b2,
			(unsigned long long)g_seed);
		fflush(stderr);
	}
}

/*
 * Check a region handed out for [addr, addr + len) of b, which the caller
 * owns.  Returns the number of stale pages found (also counted).
 */
static unsigned long oracle_check(const struct buf *b, unsigned long addr,
				  unsigned long len, rc_region_t *reg)
{
	const struct rec *r = rc_rec(reg);
	unsigned long first = page_base(addr), n = npages_of(addr, len);
	unsigned long stale = 0, fchk = 0, ichk = 0, none = 0;
	uint64_t frames[64];

	if (r->magic != REC_MAGIC || rc_start(reg) != r->start ||
	    rc_len(reg) != r->len || addr < r->start ||
	    addr + len > r->start + r->len) {
		ADD(&st.bad_region, 1);
		fprintf(stderr, "regcache_stale: region %#lx+%#lx does not "
			"cover %#lx+%#lx or its record is wrong\n",
			rc_start(reg), rc_len(reg), addr, len);
		return 1;
	}
	for (unsigned long i0 = 0; i0 < n; i0 += 64) {
		unsigned long m = n - i0 < 64 ? n - i0 : 64;

		if (g_frames)
			read_frames(first + i0 * PAGE, m, frames);
		for (unsigned long k = 0; k < m; k++) {
			unsigned long page = first + (i0 + k) * PAGE;
			unsigned long ri = (page - r->start) / PAGE;
			unsigned long bi = (page - page_base(b->addr)) / PAGE;
			const struct rec_page *p = &r->pg[ri];
			bool checked = false, bad = false;

			if (g_frames && p->pfn) {
				checked = true;
				fchk++;
				if (frames[k] != p->pfn) {
					report("frame", b, page, p->pfn,
					       frames[k]);
					ADD(&st.stale_frames, 1);
					bad = true;
				}
			}
			if (p->ident >> 32 == b->id[bi] >> 32) {
				uint64_t now = b->id[bi];

				checked = true;
				ichk++;
				if (p->ident != now && !bad) {
					report("identity", b, page,
					       (unsigned long)p->ident,
					       (unsigned long)now);
					ADD(&st.stale_idents, 1);
					bad = true;
				} else if (p->ident != now) {
					ADD(&st.stale_idents, 1);
				}
			}
			none += !checked;
			stale += bad;
		}
	}
	ADD(&st.frames_checked, fchk);
	ADD(&st.idents_checked, ichk);
	ADD(&st.unchecked, none);
	return stale;
}

/* ---- the workload ---- */

struct worker {
	pthread_t thread;
	int id;
	uint64_t rng;
	struct buf bufs[SLOTS];
	unsigned long beat;		/* heartbeat for the watchdog */
	const char *doing;
	bool done;
	/* replaced by the signal handler; used with SIGUSR1 blocked */
	struct buf sigbuf;
	uint64_t sigbuf_id[SIGBUF_PAGES];
};

static __thread struct worker *tls_self;

static rc_cache_t *g_rc;

static uint64_t rnd(struct worker *w)
{
	return t_rand(&w->rng);
}

/* 4 KiB .. 8 MiB, log-uniform, a multiple of 64. */
static unsigned long rnd_size(struct worker *w)
{
	unsigned long shift = 12 + rnd(w) % 12;	/* 4 KiB .. 8 MiB */
	unsigned long s = (1ul << shift) + rnd(w) % (1ul << shift);

	s &= ~63ul;
	return s < MIN_SIZE ? MIN_SIZE : s > MAX_SIZE ? MAX_SIZE : s;
}

static void doing(struct worker *w, const char *what)
{
	STORE(&w->doing, what);
	ADD(&w->beat, 1);
}

static void buf_alloc(struct worker *w, struct buf *b)
{
	unsigned long len = rnd_size(w);

	doing(w, "alloc");
	if (rnd(w) & 1) {
		void *p = malloc(len);

		CHECK(p);
		b->kind = BUF_MALLOC;
		b->addr = (unsigned long)p;
	} else {
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		CHECK(p != MAP_FAILED);
		b->kind = BUF_MMAP;
		b->addr = (unsigned long)p;
	}
	b->len = len;
	buf_new_identity(b);
	ADD(&st.allocs, 1);
}

static void buf_free(struct worker *w, struct buf *b)
{
	doing(w, "free");
	if (b->kind == BUF_MALLOC)
		free((void *)b->addr);
	else
		CHECK(munmap((void *)b->addr, b->len) == 0);
	b->kind = BUF_NONE;
	ADD(&st.frees, 1);
}

/* realloc (malloc'd) or mremap (mmap'd): same address keeps the pages. */
static void buf_resize(struct worker *w, struct buf *b)
{
	unsigned long len = rnd_size(w), old = b->addr;
	unsigned long keep = npages_of(b->addr, len < b->len ? len : b->len);
	void *p;

	if (b->kind == BUF_MALLOC) {
		doing(w, "realloc");
		p = realloc((void *)b->addr, len);
		CHECK(p);
		ADD(&st.reallocs, 1);
	} else {
		doing(w, "mremap");
		p = mremap((void *)b->addr, b->len, len, MREMAP_MAYMOVE);
		CHECK(p != MAP_FAILED);
		ADD(&st.mremaps, 1);
	}
	b->addr = (unsigned long)p;
	b->len = len;
	if (b->addr == old) {
		/* the pages both lengths cover stayed (with the data) */
		ids_resize(b, keep, ADD(&g_uid, 1));
		write_canaries(b);
	} else {
		buf_new_identity(b);
	}
}

/* madvise(DONTNEED) of whole pages inside the buffer: they read zero
 * afterwards, new frames at the next touch. */
static void buf_dontneed(struct worker *w, struct buf *b)
{
	unsigned long lo = (b->addr + PAGE - 1) & ~(PAGE - 1);
	unsigned long hi = page_base(b->addr + b->len);
	unsigned long n, a, m;

	if (hi <= lo)
		return;
	doing(w, "madvise");
	n = (hi - lo) / PAGE;
	a = rnd(w) % n;
	m = 1 + rnd(w) % (n - a);
	CHECK(madvise((void *)(lo + a * PAGE), m * PAGE, MADV_DONTNEED) == 0);
	for (unsigned long i = 0; i < m; i++) {
		unsigned long bi = (lo + (a + i) * PAGE - page_base(b->addr)) /
				   PAGE;
		page_replaced(b, bi);
	}
	write_canaries(b);
	ADD(&st.dontneeds, 1);
}

/* munmap + mmap at the same address (MAP_FIXED_NOREPLACE: another thread
 * may have taken the hole; then the buffer lives elsewhere). */
static void buf_remap(struct worker *w, struct buf *b)
{
	void *p;

	doing(w, "remap");
	CHECK(munmap((void *)b->addr, b->len) == 0);
	p = mmap((void *)b->addr, b->len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == (void *)b->addr) {
		for (unsigned long i = 0; i < b->npages; i++)
			page_replaced(b, i);	/* every page new */
		write_canaries(b);
	} else {
		if (p != MAP_FAILED)
			munmap(p, b->len);
		p = mmap(NULL, b->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(p != MAP_FAILED);
		b->addr = (unsigned long)p;
		buf_new_identity(b);
	}
	ADD(&st.remaps, 1);
}

static void buf_mutate(struct worker *w, struct buf *b)
{
	switch (rnd(w) % 8) {
	case 0:
		buf_free(w, b);
		break;
	case 1:
	case 2:
		buf_resize(w, b);
		break;
	case 3:
	case 4:
	case 5:
		buf_dontneed(w, b);
		break;
	default:
		if (b->kind == BUF_MMAP)
			buf_remap(w, b);
		else
			buf_dontneed(w, b);
		break;
	}
}

/* A random sub-range of the buffer (often all of it). */
static void rnd_range(struct worker *w, const struct buf *b,
		      unsigned long *addr, unsigned long *len)
{
	unsigned long off, l;

	if (rnd(w) % 3 == 0) {
		*addr = b->addr;
		*len = b->len;
		return;
	}
	off = rnd(w) % b->len;
	l = 1 + rnd(w) % (b->len - off);
	*addr = b->addr + off;
	*len = l;
}

static void buf_lookup(struct worker *w, struct buf *b, bool may_mutate)
{
	unsigned long addr, len;
	rc_region_t *r;
	int ret;

	rnd_range(w, b, &addr, &len);
	doing(w, "get");
	tls_req = b;
	tls_reg_called = false;
	ret = rc_get(g_rc, addr, len, &r);
	tls_req = NULL;
	if (ret) {
		fprintf(stderr, "regcache_stale: get %#lx+%#lx: %d\n", addr,
			len, ret);
		exit(1);
	}
	ADD(&st.gets, 1);
	if (tls_reg_called)
		ADD(&st.misses, 1);
	else
		ADD(&st.hits, 1);
	oracle_check(b, addr, len, r);
	if (may_mutate && rnd(w) % 32 == 0) {
		/* the region is in use while its pages change */
		buf_mutate(w, b);
		ADD(&st.held_changes, 1);
	}
	doing(w, "put");
	rc_put(g_rc, r);
}

static void sigbuf_init(struct worker *w);

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	CHECK(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0);
	sigbuf_init(w);
	tls_self = w;
	CHECK(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL) == 0);
	while (!LOAD(&g_stop)) {
		struct buf *b = &w->bufs[rnd(w) % SLOTS];

		ADD(&st.ops, 1);
		if (rnd(w) % 8 == 0) {
			/* the buffer signal handlers replace: keep it cached */
			CHECK(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0);
			buf_lookup(w, &w->sigbuf, false);
			CHECK(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL) == 0);
		} else if (b->kind == BUF_NONE) {
			buf_alloc(w, b);
		} else if (rnd(w) % 8 == 0) {
			buf_mutate(w, b);
		} else {
			buf_lookup(w, b, true);
		}
		doing(w, "loop");
	}
	CHECK(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0);
	tls_self = NULL;
	CHECK(munmap((void *)w->sigbuf.addr, w->sigbuf.len) == 0);
	for (int i = 0; i < SLOTS; i++) {
		if (w->bufs[i].kind != BUF_NONE)
			buf_free(w, &w->bufs[i]);
		free(w->bufs[i].id);
	}
	STORE(&w->done, true);
	return NULL;
}

/*
 * The signal handler's change: replace the pages of the worker's sigbuf
 * (munmap + mmap at the same address).  It interrupts the worker anywhere,
 * often inside get or put with the cache's lock held, so the cache's
 * callback cannot take that lock: the invalidation must be deferred and
 * still never lost.  Only async-signal-safe calls; the sigbuf's identity
 * array is fixed, the worker reads it with SIGUSR1 blocked.
 */
static void sigbuf_renew(struct buf *b)
{
	uint32_t uid = ADD(&g_uid, 1);

	b->uid = uid;
	for (unsigned long i = 0; i < b->npages; i++)
		b->id[i] = ident(uid, 1);
	write_canaries(b);
}

static void sigbuf_init(struct worker *w)
{
	struct buf *b = &w->sigbuf;
	void *p = mmap(NULL, SIGBUF_PAGES * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	b->kind = BUF_MMAP;
	b->addr = (unsigned long)p;
	b->len = SIGBUF_PAGES * PAGE;
	b->npages = SIGBUF_PAGES;
	b->id = w->sigbuf_id;
	sigbuf_renew(b);
}

static void on_sigusr1(int sig)
{
	struct worker *w = tls_self;
	int saved = errno;
	struct buf *b;
	void *p;

	(void)sig;
	if (!w)
		return;
	b = &w->sigbuf;
	if (munmap((void *)b->addr, b->len))
		abort();
	p = mmap((void *)b->addr, b->len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == (void *)b->addr) {
		for (unsigned long i = 0; i < b->npages; i++)
			page_replaced(b, i);
		write_canaries(b);
	} else {
		if (p != MAP_FAILED)
			munmap(p, b->len);
		p = mmap(NULL, b->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			abort();
		b->addr = (unsigned long)p;
		sigbuf_renew(b);
	}
	ADD(&st.signal_remaps, 1);
	errno = saved;
}

/* Interrupt random workers every 50-550 us. */
static void *signaller_main(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = g_seed ^ 0x5157u;

	while (!LOAD(&g_stop)) {
		struct timespec ts = { 0, 50000 + (long)(t_rand(&rng) % 500000) };
		int i = (int)(t_rand(&rng) % NTHREADS);

		if (!LOAD(&w[i].done))
			pthread_kill(w[i].thread, SIGUSR1);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* ---- setup ---- */

static void frames_probe(void)
{
	volatile char *p = malloc(PAGE);
	uint64_t f;

	CHECK(p);
	p[0] = 1;
	g_pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (g_pagemap >= 0) {
		read_frames((unsigned long)p, 1, &f);
		g_frames = f != 0;
	}
	free((void *)p);
	printf("# oracle: %s\n",
	       g_frames ? "frame numbers (pagemap) and page identities"
			: "page identities only (no frame numbers: not root?)");
}

static void setup(void)
{
	struct umn_mm *mm;

	/* khugepaged would replace frames behind everyone's back */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	mm = umn_mm_self();
	if (!mm) {
		printf("SKIP: umn_mm_self: %s\n", strerror(errno));
		exit(T_SKIP);
	}
	frames_probe();
	g_rc = rc_new(mm);
	CHECK(g_rc);
}

/* ---- the negative control ---- */

static long raw_syscall6(long nr, long a1, long a2, long a3, long a4,
			 long a5, long a6)
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;

	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10),
			       "r"(r8), "r"(r9)
			     : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a1;
	register long x1 __asm__("x1") = a2;
	register long x2 __asm__("x2") = a3;
	register long x3 __asm__("x3") = a4;
	register long x4 __asm__("x4") = a5;
	register long x5 __asm__("x5") = a6;

	__asm__ __volatile__("svc #0"
			     : "+r"(x0)
			     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4),
			       "r"(x5)
			     : "memory");
	return x0;
#else
	(void)nr; (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6;
	return -ENOSYS;
#endif
}

static int negative_control(void)
{
	struct buf b = { .kind = BUF_MMAP, .len = 16 * PAGE };
	unsigned long before, caught_frames, caught_idents;
	rc_region_t *r;
	void *p;
	long ret;

	if (raw_syscall6(-1, 0, 0, 0, 0, 0, 0) == -ENOSYS &&
	    raw_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0) != getpid()) {
		printf("SKIP: no raw system call on this architecture\n");
		return T_SKIP;
	}
	p = mmap(NULL, b.len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	b.addr = (unsigned long)p;
	buf_new_identity(&b);

	/* register, then a hit that must be clean */
	for (int i = 0; i < 2; i++) {
		tls_req = &b;
		tls_reg_called = false;
		CHECK_EQ(rc_get(g_rc, b.addr, b.len, &r), 0);
		tls_req = NULL;
		CHECK_EQ(oracle_check(&b, b.addr, b.len, r), 0);
		CHECK_EQ(tls_reg_called, i == 0);
		rc_put(g_rc, r);
	}

	/* the change no source sees */
	ret = raw_syscall6(SYS_munmap, (long)b.addr, (long)b.len, 0, 0, 0, 0);
	CHECK_EQ(ret, 0);
	ret = raw_syscall6(SYS_mmap, (long)b.addr, (long)b.len,
			   PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			   -1, 0);
	CHECK_EQ(ret, (long)b.addr);
	for (unsigned long i = 0; i < b.npages; i++)
		page_replaced(&b, i);
	write_canaries(&b);

	before = LOAD(&st.stale);
	tls_req = &b;
	tls_reg_called = false;
	CHECK_EQ(rc_get(g_rc, b.addr, b.len, &r), 0);
	tls_req = NULL;
	if (tls_reg_called) {
		rc_put(g_rc, r);
		printf("FAIL: the cache registered again: something saw the "
		       "raw munmap, the control proves nothing\n");
		return 1;
	}
	oracle_check(&b, b.addr, b.len, r);
	rc_put(g_rc, r);
	caught_frames = LOAD(&st.stale_frames);
	caught_idents = LOAD(&st.stale_idents);
	printf("# negative control: %lu stale pages of 16 (by frame %lu, by "
	       "identity %lu)\n", LOAD(&st.stale) - before, caught_frames,
	       caught_idents);
	CHECK(munmap((void *)b.addr, b.len) == 0);
	free(b.id);
	if (LOAD(&st.stale) == before) {
		printf("FAIL: the oracle missed a stale hit\n");
		return 1;
	}
	printf("ok - negative control: the stale hit was reported\n");
	return 0;
}

/* ---- main ---- */

static void print_summary(void)
{
	struct rc_stats cs;

	rc_get_stats(g_rc, &cs);
	printf("# regcache_stale: ops %lu gets %lu hits %lu misses %lu "
	       "invalidations %lu (deferred %lu) stale %lu (UMN_SEED=%llu)\n",
	       st.ops, st.gets, st.hits, st.misses, cs.invalidated,
	       cs.deferred, st.stale,
	       (unsigned long long)g_seed);
	printf("# pages checked by frame %lu, by identity %lu, unchecked %lu; "
	       "bad regions %lu\n", st.frames_checked, st.idents_checked,
	       st.unchecked, st.bad_region);
	printf("# changes: alloc %lu free %lu realloc %lu mremap %lu "
	       "dontneed %lu remap %lu (while held %lu) in signal handlers "
	       "%lu; cache: hits %lu misses %lu\n", st.allocs, st.frees,
	       st.reallocs, st.mremaps, st.dontneeds, st.remaps,
	       st.held_changes, st.signal_remaps, cs.hits, cs.misses);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static struct worker w[NTHREADS];
	double secs = t_stress_seconds(3), t0, end;
	unsigned long last[NTHREADS];
	double last_t[NTHREADS];
	struct sigaction sa = { .sa_handler = on_sigusr1,
				.sa_flags = SA_RESTART };
	pthread_t signaller;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "--negative-control")) {
		setup();
		alarm(60);
		ret = negative_control();
		rc_destroy(g_rc);
		return ret;
	}
	g_seed = t_seed("regcache_stale");
	setup();
	alarm((unsigned int)secs + 3 * STALL_SECONDS);	/* last resort */
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	t0 = t_now();
	end = t0 + secs;
	for (int i = 0; i < NTHREADS; i++) {
		w[i].id = i;
		w[i].rng = g_seed * 0x9e3779b97f4a7c15ull + (uint64_t)i + 1;
		w[i].doing = "start";
		last[i] = 0;
		last_t[i] = t0;
		CHECK(pthread_create(&w[i].thread, NULL, worker_main,
				     &w[i]) == 0);
	}
	CHECK(pthread_create(&signaller, NULL, signaller_main, w) == 0);
	/* the watchdog: every worker must make progress */
	for (;;) {
		bool all_done = true;
		double now;

		usleep(100 * 1000);
		now = t_now();
		if (now >= end)
			STORE(&g_stop, 1);
		for (int i = 0; i < NTHREADS; i++) {
			unsigned long beat = LOAD(&w[i].beat);

			if (LOAD(&w[i].done))
				continue;
			all_done = false;
			if (beat != last[i]) {
				last[i] = beat;
				last_t[i] = now;
			} else if (now - last_t[i] > STALL_SECONDS) {
				fprintf(stderr,
					"regcache_stale: FAIL: worker %d stuck "
					"in %s for %d s (replay: UMN_SEED=%llu)\n",
					i, LOAD(&w[i].doing), STALL_SECONDS,
					(unsigned long long)g_seed);
				print_summary();
				_exit(2);
			}
		}
		if (all_done)
			break;
	}
	CHECK(pthread_join(signaller, NULL) == 0);
	for (int i = 0; i < NTHREADS; i++)
		CHECK(pthread_join(w[i].thread, NULL) == 0);
	print_summary();
	rc_flush(g_rc);
	rc_destroy(g_rc);
	CHECK_EQ(st.bad_region, 0);
	CHECK_EQ(st.stale, 0);
	CHECK(st.hits > 0);
	printf("ok - regcache_stale: 0 stale in %lu hits\n", st.hits);
	return 0;
}
