/* SPDX-License-Identifier: MIT */
/*
 * Every hooked call, from several threads at once: the invalidation must
 * arrive before the call returns, start while the range is still mapped,
 * with the exact range, the right event and the active source's origin;
 * both a classic subscription and an interval subscription covering the
 * range see it.  Also the explicit source.
 * Run once with the default sources (patch) and once with
 * UMN_SOURCES=interpose (ctest).
 */
#define SELF_LOG
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

#define PG 4096ul
#define THREADS 4
#define ITERS 25

static unsigned int want_origin;

struct ictx {
	struct umn_interval_notifier sub;
	pthread_mutex_t lock;
	int hits;
};

static bool iv_invalidate(struct umn_interval_notifier *sub,
			  const struct umn_notifier_range *r,
			  unsigned long cur_seq)
{
	struct ictx *c = (struct ictx *)((char *)sub -
					 offsetof(struct ictx, sub));

	if (umn_notifier_range_blockable(r))
		pthread_mutex_lock(&c->lock);
	else if (pthread_mutex_trylock(&c->lock))
		return false;
	umn_interval_set_seq(sub, cur_seq);
	__atomic_fetch_add(&c->hits, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->lock);
	return true;
}

static const struct umn_interval_notifier_ops iv_ops = {
	.invalidate = iv_invalidate,
};

/* Checks the log for exactly [s, e) with event ev from the active source. */
static void expect(struct ictx *c, int hits_before, int ev, unsigned long s,
		   unsigned long e, unsigned int origin)
{
	const struct log_ev *l = log_find(ev, s, e);

	if (!l) {
		fprintf(stderr, "missing event %d [%#lx, %#lx); log:\n", ev, s, e);
		for (int i = 0; i < tlog_n; i++)
			fprintf(stderr, "  %s ev %d [%#lx, %#lx) origin %u\n",
				tlog[i].phase ? "end  " : "start", tlog[i].event,
				tlog[i].start, tlog[i].end, tlog[i].origin);
	}
	CHECK(l != NULL);
	CHECK_EQ(l->start, s);
	CHECK_EQ(l->end, e);
	CHECK_EQ(l->origin, origin);
	CHECK(l->flags & UMN_NOTIFIER_RANGE_DEFERRABLE);
	CHECK(!(l->flags & UMN_NOTIFIER_RANGE_AFTER));
	CHECK(l->mapped); /* start ran before the change */
	CHECK(__atomic_load_n(&c->hits, __ATOMIC_RELAXED) > hits_before);
}

/*
 * A target: fresh memory from the kernel (never MAP_FIXED over an address
 * we gave back: another thread's stack may live there by now) with an
 * interval subscription covering it.
 */
struct tgt {
	char *p;
	size_t len;
	struct ictx c;
};

static char *tgt_get(struct tgt *t, size_t pages)
{
	t->len = pages * PG;
	t->p = mmap(NULL, t->len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(t->p != MAP_FAILED);
	memset(t->p, 7, t->len);
	memset(&t->c.sub, 0, sizeof(t->c.sub));
	pthread_mutex_init(&t->c.lock, NULL);
	t->c.hits = 0;
	CHECK_EQ(umn_interval_notifier_insert(&t->c.sub, umn_mm_self(),
					      (unsigned long)t->p, t->len,
					      &iv_ops), 0);
	/* Inserted during another thread's invalidation, the subscription
	 * joins the tree when that ends: read_begin waits for it. */
	(void)umn_interval_read_begin(&t->c.sub);
	log_reset();
	return t->p;
}

/* Drop the subscription; unmap what is still ours ([p, p + keep)). */
static void tgt_put(struct tgt *t, size_t keep)
{
	CHECK_EQ(umn_interval_notifier_remove(&t->c.sub), 0);
	pthread_mutex_destroy(&t->c.lock);
	if (keep)
		CHECK_EQ(munmap(t->p, keep), 0);
}

#define S(p) ((unsigned long)(p))

static void *worker(void *arg)
{
	(void)arg;
	for (int it = 0; it < ITERS; it++) {
		struct tgt t, u;
		char *q;
		void *m;

		q = tgt_get(&t, 2);
		CHECK_EQ(munmap(q, 2 * PG), 0);
		expect(&t.c, 0, UMN_NOTIFY_UNMAP, S(q), S(q) + 2 * PG,
		       want_origin);
		tgt_put(&t, 0);

		/* munmap rounds the length up to a page */
		q = tgt_get(&t, 2);
		CHECK_EQ(munmap(q, PG + 1), 0);
		expect(&t.c, 0, UMN_NOTIFY_UNMAP, S(q), S(q) + 2 * PG,
		       want_origin);
		tgt_put(&t, 0);

		/* mremap moving onto memory we own: both ranges */
		m = tgt_get(&u, 4);
		q = tgt_get(&t, 1);
		CHECK(mremap(q, PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, m) ==
		      m);
		expect(&t.c, 0, UMN_NOTIFY_UNMAP, S(q), S(q) + PG, want_origin);
		expect(&u.c, 0, UMN_NOTIFY_UNMAP, S(m), S(m) + 4 * PG,
		       want_origin);
		tgt_put(&t, 0);
		tgt_put(&u, 4 * PG);

		/* shrinking in place unmaps the tail only */
		q = tgt_get(&t, 4);
		CHECK(mremap(q, 4 * PG, PG, 0) == q);
		expect(&t.c, 0, UMN_NOTIFY_UNMAP, S(q) + PG, S(q) + 4 * PG,
		       want_origin);
		tgt_put(&t, PG);

		q = tgt_get(&t, 2);
		CHECK_EQ(madvise(q, 2 * PG, MADV_DONTNEED), 0);
		expect(&t.c, 0, UMN_NOTIFY_CLEAR, S(q), S(q) + 2 * PG,
		       want_origin);
		/* advice that changes no mapping: no event */
		log_reset();
		CHECK_EQ(madvise(q, 2 * PG, MADV_WILLNEED), 0);
		CHECK_EQ(tlog_n, 0);
		/* failing calls still get their end (and errno survives) */
		errno = 0;
		CHECK_EQ(madvise(q, 2 * PG, MADV_REMOVE), -1);
		CHECK_EQ(errno, EINVAL);
		expect(&t.c, 0, UMN_NOTIFY_CLEAR, S(q), S(q) + 2 * PG,
		       want_origin);
		tgt_put(&t, 2 * PG);

		q = tgt_get(&t, 2);
		CHECK(mmap(q, 2 * PG, PROT_READ,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == q);
		expect(&t.c, 0, UMN_NOTIFY_UNMAP, S(q), S(q) + 2 * PG,
		       want_origin);
		/* a plain mmap replaces nothing: no event */
		log_reset();
		m = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(m != MAP_FAILED);
		CHECK_EQ(tlog_n, 0);
		munmap(m, PG);
		tgt_put(&t, 2 * PG);

		q = tgt_get(&t, 2);
		CHECK_EQ(mprotect(q, 2 * PG, PROT_READ), 0);
		expect(&t.c, 0, UMN_NOTIFY_PROTECTION_VMA, S(q), S(q) + 2 * PG,
		       want_origin);
		tgt_put(&t, 2 * PG);

		/* raw syscall() */
		q = tgt_get(&t, 2);
		CHECK_EQ(syscall(SYS_madvise, q, 2 * PG, MADV_DONTNEED), 0);
		expect(&t.c, 0, UMN_NOTIFY_CLEAR, S(q), S(q) + 2 * PG,
		       want_origin);
		log_reset();
		t.c.hits = 0;
		CHECK_EQ(syscall(SYS_mprotect, q, 2 * PG, PROT_READ), 0);
		expect(&t.c, 0, UMN_NOTIFY_PROTECTION_VMA, S(q), S(q) + 2 * PG,
		       want_origin);
		log_reset();
		t.c.hits = 0;
		/* the numbers only discovered sites used to report: syscall()
		 * passes any number, so its entry must take them too */
		CHECK_EQ(syscall(SYS_pkey_mprotect, q, 2 * PG,
				 PROT_READ | PROT_WRITE, -1), 0);
		expect(&t.c, 0, UMN_NOTIFY_PROTECTION_VMA, S(q), S(q) + 2 * PG,
		       want_origin);
		log_reset();
		t.c.hits = 0;
		CHECK_EQ(syscall(SYS_munmap, q, 2 * PG), 0);
		expect(&t.c, 0, UMN_NOTIFY_UNMAP, S(q), S(q) + 2 * PG,
		       want_origin);
		tgt_put(&t, 0);

		/* the explicit source */
		{
			struct umn_notifier_range er;

			q = tgt_get(&t, 1);
			CHECK_EQ(umn_self_invalidate_start(&er, UMN_NOTIFY_CLEAR,
							   S(q), PG), 0);
			umn_self_invalidate_end(&er);
			expect(&t.c, 0, UMN_NOTIFY_CLEAR, S(q), S(q) + PG,
			       UMN_ORIGIN_EXPLICIT);
			tgt_put(&t, PG);
		}
	}
	return NULL;
}

static void test_explicit_errors(void)
{
	struct umn_notifier_range r;

	CHECK_EQ(umn_self_invalidate_start(&r, UMN_NOTIFY_NR_EVENTS, 4096, 4096),
		 -EINVAL);
	CHECK_EQ(umn_self_invalidate_start(&r, UMN_NOTIFY_UNMAP, 4096, 0),
		 -EINVAL);
	CHECK_EQ(umn_self_invalidate_start(&r, UMN_NOTIFY_UNMAP, ~0ul, 2),
		 -EINVAL);
	CHECK_EQ(umn_self_invalidate_start(NULL, UMN_NOTIFY_UNMAP, 4096, 1),
		 -EINVAL);
}

static void test_threads(void)
{
	pthread_t t[THREADS];

	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, worker, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
}

int main(void)
{
	struct umn_notifier sub = { .ops = &log_ops };
	struct umn_mm *mm = umn_mm_self();
	unsigned int src;

	CHECK(mm != NULL);
	src = umn_self_sources();
	printf("# sources %#x\n", src);
	/* The program's own calls reach the interposed symbols first. */
	want_origin = (src & UMN_SELF_INTERPOSE) ? UMN_ORIGIN_INTERPOSE
						 : UMN_ORIGIN_PATCH;
	CHECK_EQ(umn_notifier_register(&sub, mm), 0);
	RUN(test_explicit_errors);
	RUN(test_threads);
	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	return 0;
}
