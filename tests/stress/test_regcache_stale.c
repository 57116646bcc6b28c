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
 * Zero stale hits are allowed.  A frame that changed under an unchanged
 * identity is the kernel migrating the page: counted, not stale.
 *
 * Two more sources of change: a signal handler replaces each worker's
 * "sigbuf" while the worker may be inside get or put (the invalidation
 * comes from a context that must not wait for the cache), and a changer
 * thread replaces pages of a shared buffer that every worker looks up,
 * with a registration that takes 30 us, so changes land inside the
 * registration window; a get of the shared buffer is checked only if no
 * change happened from its start to the end of the check (a region that
 * missed a change stays cached and a later clean get reports it).
 * Seed bits choose UMN_REGCACHE_MERGE and a 64-region limit.  A run lasts
 * UMN_STRESS_SECONDS (3 by default), longer on a loaded machine: until
 * 100 hits were checked, up to four times that; it fails with none.
 *
 * --negative-control: the oracle must bite.  A buffer is registered, then
 * unmapped and mapped again at the same address with raw `syscall`
 * instructions that no umn source sees; the next get hits the stale region
 * and the oracle must report it.  Exits 0 only if it did, and if, once the
 * program told the cache of the change (umn_regcache_invalidate, what the
 * workers do under ThreadSanitizer for a handler munmap no source reported),
 * the next get registered again and was clean.
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
#include <umn/regcache.h>

/*
 * ASan's and TSan's allocators map and unmap their blocks with raw system
 * calls, which no umn source sees (as with any allocator that bypasses
 * libc): under them the test uses only buffers it maps itself.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_SANITIZER_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define T_SANITIZER_MALLOC 1
#endif
#endif
#ifndef T_SANITIZER_MALLOC
#define T_SANITIZER_MALLOC 0
#endif

#define PAGE          4096ul
#define NTHREADS      3
#define SLOTS         6
#define MIN_SIZE      (4ul << 10)
#define MAX_SIZE      (8ul << 20)
#define STALL_SECONDS 20
#define MIN_HITS 100	/* hits wanted before a run may end */
#define SIGBUF_PAGES  16
#define CHANGER       NTHREADS
#define SIGNALLER     (NTHREADS + 1)
#define NALL          (NTHREADS + 2)
#define MAX_REPORTS   10
#define MISSED        4
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
	unsigned long inconclusive, shared_gets, moved;
	unsigned long allocs, frees, reallocs, mremaps, dontneeds, remaps;
	unsigned long signal_remaps, shared_changes, unreported, told;
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
		__atomic_store_n(&((uint64_t *)s)[0], id, __ATOMIC_RELAXED);
		__atomic_store_n(&((uint64_t *)s)[1], id ^ CANARY_SALT ^ s,
				 __ATOMIC_RELAXED);
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
	__atomic_store_n(&b->id[i], b->id[i] + 1, __ATOMIC_RELAXED);
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

/*
 * The shared buffer: one changer thread replaces random pages of it
 * (mmap(MAP_FIXED) over them, or madvise(DONTNEED)) while every worker
 * looks it up.  Pages can change while a miss registers them: the cache
 * must notice and register again (the window libfabric and Open MPI lose).
 * g_shared_seq is odd while a change is in progress.
 */
#define SHARED_PAGES 32
static struct buf g_shared;
static uint64_t g_shared_id[SHARED_PAGES];
static unsigned long g_shared_seq;

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
	unsigned long s0;

	if (!r || !frames) {
		free(r);
		free(frames);
		return -ENOMEM;
	}
	tls_reg_called = true;
	s0 = LOAD(&g_shared_seq);
	r->magic = REC_MAGIC;
	r->start = start;
	r->len = len;
	if (g_frames)
		read_frames(start, n, frames);
	else
		memset(frames, 0, n * sizeof(uint64_t));
	if (b == &g_shared) {
		/* a real registration (ibv_reg_mr) takes tens of us: give the
		 * changer time to land inside the registration window */
		struct timespec ts = { 0, 30000 };

		nanosleep(&ts, NULL);
	}
	for (unsigned long i = 0; i < n; i++) {
		unsigned long page = start + i * PAGE;

		r->pg[i].pfn = frames[i];
		r->pg[i].ident = 0;
		if (b == &g_shared) {
			if (page < b->addr || page >= b->addr + b->len)
				continue;
			/* another thread changes it: its memory is not ours
			 * to read; the identities it published are */
			r->pg[i].ident = __atomic_load_n(
				&g_shared_id[(page - b->addr) / PAGE],
				__ATOMIC_ACQUIRE);
		} else if (b && page >= page_base(b->addr) &&
			   page < page_base(b->addr) + b->npages * PAGE) {
			unsigned long j = (page - page_base(b->addr)) / PAGE;
			unsigned long s = slot_of(b->addr, b->len, j);
			uint64_t c0 = s ? __atomic_load_n(&((uint64_t *)s)[0],
							  __ATOMIC_RELAXED) : 0;
			uint64_t c1 = s ? __atomic_load_n(&((uint64_t *)s)[1],
							  __ATOMIC_RELAXED) : 0;

			if (s && c1 == (c0 ^ CANARY_SALT ^ s))
				r->pg[i].ident = c0;
		}
	}
	/* identities of the shared buffer only if no change overlapped */
	if (b == &g_shared && ((s0 & 1) || LOAD(&g_shared_seq) != s0))
		for (unsigned long i = 0; i < n; i++)
			r->pg[i].ident = 0;
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
typedef struct umn_regcache rc_cache_t;
typedef struct umn_regcache_region rc_region_t;

struct t_region {
	struct umn_regcache_region region;	/* first, as the cache asks */
	struct rec *rec;
};

static int rc_reg(void *ctx, struct umn_regcache_region *region)
{
	struct t_region *t = (struct t_region *)region;

	(void)ctx;
	return t_reg(region->start, region->len, &t->rec);
}

static void rc_dereg(void *ctx, struct umn_regcache_region *region)
{
	struct t_region *t = (struct t_region *)region;

	(void)ctx;
	t_dereg(t->rec);
	t->rec = NULL;
}

static const struct umn_regcache_ops rc_ops = { rc_reg, rc_dereg };

/* Seed bit 0: UMN_REGCACHE_MERGE; bit 1: at most 64 regions (eviction). */
static rc_cache_t *rc_new(struct umn_mm *mm, uint64_t seed)
{
	struct umn_regcache_params p = {
		.ops = &rc_ops,
		.region_size = sizeof(struct t_region),
		.flags = seed & 1 ? UMN_REGCACHE_MERGE : 0,
		.max_regions = seed & 2 ? 64 : 0,
	};

	printf("# cache: %s, %s\n", seed & 1 ? "merge" : "no merge",
	       seed & 2 ? "max 64 regions" : "unlimited");
	return umn_regcache_new(mm, &p);
}

#define rc_get(rc, a, l, out) umn_regcache_get(rc, a, l, out)
#define rc_put(rc, r)         umn_regcache_put(rc, r)
#define rc_flush(rc)          CHECK_EQ(umn_regcache_flush(rc), 0)
#define rc_destroy(rc)        CHECK_EQ(umn_regcache_destroy(rc), 0)
#define rc_rec(r)             ((const struct rec *)((struct t_region *)(r))->rec)
#define rc_start(r)           ((r)->start)
#define rc_len(r)             ((r)->len)

static void rc_get_stats(rc_cache_t *rc, struct umn_regcache_stats *out)
{
	CHECK_EQ(umn_regcache_stats(rc, out), 0);
}

static void report(const char *what, const struct buf *b,
		   const struct rec *r, unsigned long page, unsigned long a,
		   unsigned long b2, uint64_t ident_was, uint64_t ident_now)
{
	static unsigned long reports;

	if (ADD(&reports, 1) <= MAX_REPORTS) {
		fprintf(stderr,
			"regcache_stale: STALE hit (%s): buffer %#lx+%#lx "
			"(%s, id %u) page %#lx: recorded %#lx, now %#lx; "
			"region %#lx+%#lx; page identity at registration "
			"%#llx, now %#llx (replay: UMN_SEED=%llu)\n",
			what, b->addr, b->len,
			b == &g_shared ? "shared" :
			b->kind == BUF_MALLOC ? "malloc" : "mmap", b->uid,
			page, a, b2, r->start, r->len,
			(unsigned long long)ident_was,
			(unsigned long long)ident_now,
			(unsigned long long)g_seed);
		fflush(stderr);
	}
}

/*
 * Check a region handed out for [addr, addr + len) of b.  The caller owns
 * those pages (nobody else changes them), or, for the shared buffer, passes
 * its change sequence, the same (and even) before and after get: no change
 * happened since get began; one that starts before the check ends makes the
 * check inconclusive.  Returns the number of stale pages found (also counted).
 */
static unsigned long oracle_check(const struct buf *b, unsigned long addr,
				  unsigned long len, rc_region_t *reg,
				  const unsigned long *seq, unsigned long s1)
{
	const struct rec *r = rc_rec(reg);
	unsigned long first = page_base(addr), n = npages_of(addr, len);
	unsigned long fchk = 0, ichk = 0, none = 0, sf = 0, si = 0, nbad = 0;
	unsigned long nstale = 0, moved = 0;
	struct {
		const char *what;
		unsigned long page, was, now;
		uint64_t iwas, inow;
	} bad[4];
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
			uint64_t now = __atomic_load_n(&b->id[bi],
						       __ATOMIC_ACQUIRE);
			bool icheck = p->ident >> 32 == now >> 32;
			bool ibad = icheck && p->ident != now;
			bool fcheck = g_frames && p->pfn;
			bool fbad = fcheck && frames[k] != p->pfn;
			bool checked = icheck || fcheck;

			/* a new frame under the same content: the kernel
			 * migrated the page (compaction); no source in
			 * userspace can see that, pinning prevents it */
			if (fbad && icheck && !ibad) {
				fbad = false;
				moved++;
			}
			fchk += fcheck;
			ichk += icheck;
			sf += fbad;
			si += ibad;
			if ((fbad || ibad) && nbad < 4)
				bad[nbad++] = (typeof(bad[0])){
					fbad ? "frame" : "identity", page,
					fbad ? p->pfn : p->ident,
					fbad ? frames[k] : now, p->ident,
					now };
			nstale += fbad || ibad;
			none += !checked;
		}
	}
	/* the identities were read with acquire loads: this read is later */
	if (seq && LOAD(seq) != s1) {
		ADD(&st.inconclusive, 1);
		return 0;
	}
	for (unsigned long k = 0; k < nbad; k++)
		report(bad[k].what, b, r, bad[k].page, bad[k].was,
		       bad[k].now, bad[k].iwas, bad[k].inow);
	ADD(&st.stale_frames, sf);
	ADD(&st.stale_idents, si);
	ADD(&st.frames_checked, fchk);
	ADD(&st.idents_checked, ichk);
	ADD(&st.unchecked, none);
	ADD(&st.stale, nstale);
	ADD(&st.moved, moved);
	return nstale;
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
	/*
	 * ThreadSanitizer only: handler munmaps that no source reported (TSan
	 * ran the handler inside a hook, where the unmap counts as umn's own;
	 * see the end of main).  The cache cannot know of them, so the worker
	 * tells it (umn_regcache_invalidate, the call for changes no source
	 * sees) before its next get of the sigbuf and at its next step; else
	 * the region registered before stays cached and the next get of the
	 * sigbuf is a stale hit (a 600 s TSan run had one).  Written by the
	 * handler, drained with SIGUSR1 blocked.
	 */
	volatile int nmissed;		/* > MISSED: too many, flush all */
	struct { unsigned long addr, len; } missed[MISSED];
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
	if ((rnd(w) & 1) && !T_SANITIZER_MALLOC) {
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

static void shared_lookup(struct worker *w)
{
	unsigned long addr, len, s0, s1;
	rc_region_t *r;

	rnd_range(w, &g_shared, &addr, &len);
	doing(w, "get shared");
	s0 = LOAD(&g_shared_seq);
	tls_req = &g_shared;
	tls_reg_called = false;
	CHECK_EQ(rc_get(g_rc, addr, len, &r), 0);
	tls_req = NULL;
	s1 = LOAD(&g_shared_seq);
	ADD(&st.gets, 1);
	ADD(&st.shared_gets, 1);
	if (tls_reg_called)
		ADD(&st.misses, 1);
	else
		ADD(&st.hits, 1);
	/* a change during get may or may not be in the region; a region
	 * that missed one is caught by a later get (it stays cached) */
	if ((s1 & 1) || s1 != s0)
		ADD(&st.inconclusive, 1);
	else
		oracle_check(&g_shared, addr, len, r, &g_shared_seq, s1);
	doing(w, "put shared");
	rc_put(g_rc, r);
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
	oracle_check(b, addr, len, r, NULL, 0);
	if (may_mutate && rnd(w) % 32 == 0) {
		/* the region is in use while its pages change */
		buf_mutate(w, b);
		ADD(&st.held_changes, 1);
	}
	doing(w, "put");
	rc_put(g_rc, r);
}

static void sigbuf_init(struct worker *w);

/* Tell the cache of the handler unmaps no source reported (TSan only);
 * SIGUSR1 blocked. */
static void tell_missed_blocked(struct worker *w)
{
	int n = w->nmissed;

	if (!n)
		return;
	doing(w, "tell missed");
	if (n > MISSED) {
		CHECK_EQ(umn_regcache_invalidate(g_rc, PAGE, -2 * PAGE), 0);
	} else {
		for (int i = 0; i < n; i++)
			CHECK_EQ(umn_regcache_invalidate(g_rc, w->missed[i].addr,
							 w->missed[i].len), 0);
	}
	ADD(&st.told, (unsigned long)n);
	w->nmissed = 0;
}

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
		if (T_TSAN && w->nmissed) {
			CHECK(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0);
			tell_missed_blocked(w);
			CHECK(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL) == 0);
		}
		if (rnd(w) % 8 == 0) {
			/* the buffer signal handlers replace: keep it cached */
			CHECK(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0);
			/* TSan may run a pending handler as the mask is set */
			if (T_TSAN)
				tell_missed_blocked(w);
			buf_lookup(w, &w->sigbuf, false);
			CHECK(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL) == 0);
		} else if (rnd(w) % 4 == 0) {
			shared_lookup(w);
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

/*
 * The witness: a classic subscription on umn_mm_self() that notes, per
 * thread, whether the source reported the handler's munmap (the callback
 * runs on the unmapping thread).  An unreported unmap is no fault of the
 * cache; the summary counts it apart, and a stale hit it causes is still
 * a stale hit.
 */
static __thread volatile unsigned long tls_watch;	/* address, 0: none */
static __thread volatile int tls_watch_seen;

static int witness_start(struct umn_notifier *sub,
			 const struct umn_notifier_range *range)
{
	(void)sub;
	if (tls_watch && range->start <= tls_watch && tls_watch < range->end)
		tls_watch_seen = 1;
	return 0;
}

static const struct umn_notifier_ops witness_ops = {
	.invalidate_range_start = witness_start,
};
static struct umn_notifier g_witness = { .ops = &witness_ops };

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
	tls_watch_seen = 0;
	tls_watch = b->addr;
	if (munmap((void *)b->addr, b->len))
		abort();
	tls_watch = 0;
	if (!tls_watch_seen) {
		ADD(&st.unreported, 1);
		if (T_TSAN) {
			int n = w->nmissed;

			if (n < MISSED) {
				w->missed[n].addr = b->addr;
				w->missed[n].len = b->len;
			}
			w->nmissed = n + 1;
		}
	}
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

/* Interrupt random workers every 50-550 us (arg: all the workers). */
static void *signaller_main(void *arg)
{
	struct worker *w = arg, *self = &w[SIGNALLER];

	while (!LOAD(&g_stop)) {
		struct timespec ts = { 0, 50000 + (long)(rnd(self) % 500000) };
		int i = (int)(rnd(self) % NTHREADS);

		doing(self, "kill");
		if (!LOAD(&w[i].done))
			pthread_kill(w[i].thread, SIGUSR1);
		doing(self, "sleep");
		nanosleep(&ts, NULL);
	}
	STORE(&self->done, true);
	return NULL;
}

static void shared_init(void)
{
	void *p = mmap(NULL, SHARED_PAGES * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	g_shared.kind = BUF_MMAP;
	g_shared.addr = (unsigned long)p;
	g_shared.len = SHARED_PAGES * PAGE;
	g_shared.npages = SHARED_PAGES;
	g_shared.id = g_shared_id;
	g_shared.uid = ADD(&g_uid, 1);
	for (unsigned long i = 0; i < SHARED_PAGES; i++)
		g_shared_id[i] = ident(g_shared.uid, 1);
	write_canaries(&g_shared);
}

static void *changer_main(void *arg)
{
	struct worker *w = arg;	/* its own rng and heartbeat */

	while (!LOAD(&g_stop)) {
		struct timespec ts = { 0, (long)(rnd(w) % 300000) };
		unsigned long a = rnd(w) % SHARED_PAGES;
		unsigned long n = 1 + rnd(w) % (SHARED_PAGES - a);
		void *p = (void *)(g_shared.addr + a * PAGE);

		doing(w, "change shared");
		/* odd: changing (ordered before the change) */
		__atomic_add_fetch(&g_shared_seq, 1, __ATOMIC_SEQ_CST);
		if (rnd(w) & 1)
			CHECK(mmap(p, n * PAGE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				   -1, 0) == p);
		else
			CHECK(madvise(p, n * PAGE, MADV_DONTNEED) == 0);
		for (unsigned long i = a; i < a + n; i++)
			page_replaced(&g_shared, i);
		write_canaries(&g_shared);
		__atomic_add_fetch(&g_shared_seq, 1, __ATOMIC_RELEASE);
		ADD(&st.shared_changes, 1);
		doing(w, "sleep");
		nanosleep(&ts, NULL);
	}
	STORE(&w->done, true);
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
	if (T_SANITIZER_MALLOC)
		printf("# buffers: mmap only (the sanitizer's malloc unmaps "
		       "with raw system calls no source sees)\n");
	g_rc = rc_new(mm, g_seed);
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
	unsigned long before, after, caught_frames, caught_idents;
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
		CHECK_EQ(oracle_check(&b, b.addr, b.len, r, NULL, 0), 0);
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
	oracle_check(&b, b.addr, b.len, r, NULL, 0);
	rc_put(g_rc, r);
	caught_frames = LOAD(&st.stale_frames);
	caught_idents = LOAD(&st.stale_idents);
	printf("# negative control: %lu stale pages of 16 (by frame %lu, by "
	       "identity %lu)\n", LOAD(&st.stale) - before, caught_frames,
	       caught_idents);
	/* what the workers do under ThreadSanitizer for a handler unmap no
	 * source reported: tell the cache; the next get registers again */
	CHECK_EQ(umn_regcache_invalidate(g_rc, b.addr, b.len), 0);
	tls_req = &b;
	tls_reg_called = false;
	CHECK_EQ(rc_get(g_rc, b.addr, b.len, &r), 0);
	tls_req = NULL;
	CHECK(tls_reg_called);
	after = LOAD(&st.stale);
	CHECK_EQ(oracle_check(&b, b.addr, b.len, r, NULL, 0), 0);
	CHECK_EQ(LOAD(&st.stale), after);
	rc_put(g_rc, r);
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
	struct umn_regcache_stats cs;

	rc_get_stats(g_rc, &cs);
	printf("# regcache_stale: ops %lu gets %lu hits %lu misses %lu "
	       "invalidations %lu (deferred %lu) stale %lu (UMN_SEED=%llu)\n",
	       st.ops, st.gets, st.hits, st.misses, cs.invalidated,
	       cs.deferred, st.stale,
	       (unsigned long long)g_seed);
	printf("# pages checked by frame %lu, by identity %lu, unchecked %lu; "
	       "bad regions %lu; moved by the kernel (same content, new frame: "
	       "not stale) %lu\n", st.frames_checked, st.idents_checked,
	       st.unchecked, st.bad_region, st.moved);
	printf("# changes: alloc %lu free %lu realloc %lu mremap %lu "
	       "dontneed %lu remap %lu (while held %lu) in signal handlers "
	       "%lu; cache: hits %lu misses %lu\n", st.allocs, st.frees,
	       st.reallocs, st.mremaps, st.dontneeds, st.remaps,
	       st.held_changes, st.signal_remaps, cs.hits, cs.misses);
	printf("# munmap in a signal handler not reported by any source: "
	       "%lu of %lu\n", st.unreported, st.signal_remaps);
	printf("# shared buffer: %lu gets (%lu inconclusive: changed meanwhile), "
	       "%lu changes; cache retries %lu\n", st.shared_gets,
	       st.inconclusive, st.shared_changes, cs.retries);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	/* the workers, then the changer and the signaller */
	static struct worker w[NALL];
	static const char *const role[] = { [CHANGER] = "changer",
					    [SIGNALLER] = "signaller" };
	double secs = t_stress_seconds(3), t0, end;
	unsigned long last[NALL];
	double last_t[NALL];
	struct sigaction sa = { .sa_handler = on_sigusr1,
				.sa_flags = SA_RESTART };
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
	/* the run may be stretched to 4 * secs (MIN_HITS) */
	alarm((unsigned int)(4 * secs) + 3 * STALL_SECONDS); /* last resort */
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	t0 = t_now();
	end = t0 + secs;
	shared_init();
	CHECK_EQ(umn_notifier_register(&g_witness, umn_mm_self()), 0);
	for (int i = 0; i < NALL; i++) {
		w[i].id = i;
		w[i].rng = g_seed * 0x9e3779b97f4a7c15ull + (uint64_t)i + 1;
		w[i].doing = "start";
		last[i] = 0;
		last_t[i] = t0;
	}
	for (int i = 0; i < NALL; i++)
		CHECK(pthread_create(&w[i].thread, NULL,
				     i == CHANGER ? changer_main :
				     i == SIGNALLER ? signaller_main :
				     worker_main, i == SIGNALLER ? w : &w[i])
		      == 0);
	/* the watchdog: every worker must make progress */
	for (;;) {
		bool all_done = true;
		double now;

		usleep(100 * 1000);
		now = t_now();
		/* a loaded machine (a sanitizer build beside others) may
		 * give the workers too little time for a hit to be checked:
		 * the run goes on until MIN_HITS, up to 4 * secs (at
		 * least one hit is required) */
		if (now >= end && (LOAD(&st.hits) >= MIN_HITS ||
				   now >= t0 + 4 * secs))
			STORE(&g_stop, 1);
		for (int i = 0; i < NALL; i++) {
			unsigned long beat = LOAD(&w[i].beat);

			if (LOAD(&w[i].done))
				continue;
			all_done = false;
			if (beat != last[i]) {
				last[i] = beat;
				last_t[i] = now;
			} else if (now - last_t[i] > STALL_SECONDS) {
				fprintf(stderr,
					"regcache_stale: FAIL: %s %d stuck "
					"in %s for %d s (replay: UMN_SEED=%llu)\n",
					i < NTHREADS ? "worker" : role[i], i,
					LOAD(&w[i].doing), STALL_SECONDS,
					(unsigned long long)g_seed);
				print_summary();
				_exit(2);
			}
		}
		if (all_done)
			break;
	}
	for (int i = NALL - 1; i >= 0; i--)
		CHECK(pthread_join(w[i].thread, NULL) == 0);
	CHECK(munmap((void *)g_shared.addr, g_shared.len) == 0);
	print_summary();
	umn_notifier_unregister(&g_witness, umn_mm_self());
	rc_flush(g_rc);
	rc_destroy(g_rc);
	CHECK_EQ(st.bad_region, 0);
	/*
	 * The spec: sources report unmaps made in signal handlers (unless the
	 * program promised it never makes any).  Not under ThreadSanitizer:
	 * its runtime catches asynchronous signals itself and runs the
	 * application's handler later, at its next interceptor, which can be
	 * inside a hook (a pthread call of umn's own), where the handler's
	 * munmap counts as umn's.  Counted and printed there, not checked;
	 * every other build checks it.
	 */
#if defined(__SANITIZE_THREAD__)
	if (st.unreported)
		printf("# ThreadSanitizer: %lu handler munmaps ran inside a hook "
		       "(TSan's deferred signal delivery): not checked here; "
		       "the workers told the cache of %lu\n",
		       st.unreported, st.told);
#else
	if (!getenv("UMN_SELF_NOSIGMASK"))
		CHECK_EQ(st.unreported, 0);
#endif
	CHECK_EQ(st.stale, 0);
	CHECK(st.hits > 0);
	printf("ok - regcache_stale: 0 stale in %lu hits\n", st.hits);
	return 0;
}
