/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the notifier API against a reference model.
 *
 * The input is a program over two address spaces, a pool of NISUB interval
 * subscriptions and NCLS classic ones (plus the shared get/put one of each
 * address space).  Each step is an opcode byte followed by operand bytes
 * (see step()).  Single-threaded, except that a remove which must wait for
 * a running invalidation is run on a helper thread (the model knows it
 * queues and completes at the last end).
 *
 * The model keeps, per address space: users, torn down, interval mode,
 * open start/end pairs, the parity of the sequence, the deferred
 * inserts/removes; per interval subscription: its state, range, "collides"
 * (read_begin would wait), "dirty" (read_retry must say true), deferred
 * refused range; per classic subscription: registered, hashed, released,
 * and the list order.  After every step it checks:
 *  - return codes and errno;
 *  - callbacks: each intersecting interval subscription exactly once with
 *    the caller's range (a refused non-blocking start: a prefix ending at
 *    the refuser), classic start/end/invalidate_range/release in list order;
 *  - reports through the warn handler exactly where the model predicts misuse;
 *  - invariants 1-5 by looking at the (private) subscriptions object: no
 *    active invalidation => seq even and deferred list empty; seq changes
 *    only by |1 from even or +1 from odd; parity as the model says; every
 *    inserted subscription's seq odd.
 * Avoided because they would block a single thread for ever: read_begin on
 * a colliding subscription, registration or enabling interval mode while a
 * pair is open (the primary holds the mmap lock around pairs), teardown
 * while a pair is open.  End without a start is only exercised with no
 * classic subscription (see tests/misuse/test_end_without_start.c).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <umn/umn.h>
#include "notifier_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NMM    2
#define NISUB  6
#define NCLS   3
#define MAXACT 4
#define MAXLOG 64

#define FCHECK(c)                                                            \
	do {                                                                 \
		if (!(c)) {                                                  \
			fprintf(stderr, "fuzz_api: %s:%d: model mismatch: %s\n", \
				__FILE__, __LINE__, #c);                     \
			abort();                                             \
		}                                                            \
	} while (0)

/* ---- input ---- */
struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t byte(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static unsigned long value(struct input *in)
{
	static const unsigned long special[16] = {
		0, 1, 2, 4095, 4096, 0x10000, LONG_MAX, (unsigned long)LONG_MAX + 1,
		ULONG_MAX - 4096, ULONG_MAX - 2, ULONG_MAX - 1, ULONG_MAX,
		0x1000, 0x2000, 0x100, 0x200,
	};
	uint8_t b = byte(in);
	unsigned long v = 0;

	if (b < 0xe0)
		return (unsigned long)b * 16; /* small: lots of overlap */
	if (b < 0xf0)
		return special[b & 15];
	for (int i = 0; i < 8; i++)
		v = v << 8 | byte(in);
	return v;
}

/* ---- objects and model ---- */
enum { S_NONE, S_TREE, S_DINS, S_DREM };

struct fsub {
	struct umn_interval_notifier sub; /* first */
	int idx, mm;
	bool refuse;              /* refuse non-blockable (and any) ranges */
	int st;
	unsigned long start, last;
	bool collide, dirty, has_read;
	unsigned long rseq;
	bool dpend;
	unsigned long dstart, dlast;
	bool rm_thread;
	pthread_t thread;
};

struct fcls {
	struct umn_notifier n; /* first */
	int idx;               /* NCLS + mm for the shared get/put one */
	bool refuse;
	bool registered, hashed, released;
	int mm;
};

struct mmodel {
	struct umn_mm *mm;
	int users;
	bool torn, has_subs, has_itree, odd;
	int nact;
	struct umn_notifier_range act[MAXACT];
	struct fcls *list[NCLS + 1]; /* classic list, head first */
	int nlist;
	struct fcls *get;      /* the hashed shared subscription, if any */
	unsigned int get_users;
	unsigned long seq;     /* last seq seen (white box) */
};

static struct fsub isubs[NISUB];
static struct fcls cls[NCLS];
static struct mmodel M[NMM];
static unsigned long warns, warns_expected;
/* Shared subscriptions whose last put queued a free, and frees done (on
 * liburcu's call_rcu thread): process-wide totals, as frees of one input
 * may run during the next (a barrier per input would cost milliseconds). */
static unsigned long pending_frees, frees, pending_at_setup;

/* ---- callback log ---- */
enum { L_INV, L_CSTART, L_CEND, L_CRANGE, L_RELEASE };

struct logent {
	int kind, idx;
	const struct umn_notifier_range *range;
	unsigned long start, end;
	bool refused;
};

static struct logent ilog[MAXLOG], clog[MAXLOG];
static int nilog, nclog;

static void warn_handler(const char *func, const char *msg, void *arg)
{
	(void)func; (void)msg; (void)arg;
	warns++;
}

static struct umn_subscriptions *subs_of(int m)
{
	return umnp_subs(M[m].mm);
}

static bool isub_intersects(const struct fsub *s, unsigned long start,
			    unsigned long end)
{
	return start < end && start <= s->last && end - 1 >= s->start;
}

static bool in_tree(const struct fsub *s)
{
	return s->st == S_TREE || s->st == S_DREM;
}

static bool f_invalidate(struct umn_interval_notifier *sub,
			 const struct umn_notifier_range *range,
			 unsigned long cur_seq)
{
	struct fsub *s = (struct fsub *)sub;
	struct umn_subscriptions *subs = subs_of(s->mm);
	bool refuse = s->refuse;

	FCHECK(nilog < MAXLOG);
	FCHECK(cur_seq & 1);
	FCHECK(cur_seq == __atomic_load_n(subs->seq,
					  __ATOMIC_RELAXED));
	FCHECK(in_tree(s));
	ilog[nilog++] = (struct logent){ L_INV, s->idx, range, range->start,
					 range->end, refuse };
	if (refuse)
		return false;
	umn_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct umn_interval_notifier_ops isub_ops = {
	.invalidate = f_invalidate,
};

static void clog_add(int kind, struct umn_notifier *n,
		     const struct umn_notifier_range *range,
		     unsigned long start, unsigned long end)
{
	FCHECK(nclog < MAXLOG);
	clog[nclog++] = (struct logent){ kind, ((struct fcls *)n)->idx, range,
					 start, end, false };
}

static int c_start(struct umn_notifier *n,
		   const struct umn_notifier_range *range)
{
	clog_add(L_CSTART, n, range, range->start, range->end);
	return ((struct fcls *)n)->refuse ? -EAGAIN : 0;
}

static void c_end(struct umn_notifier *n, const struct umn_notifier_range *range)
{
	clog_add(L_CEND, n, range, range->start, range->end);
}

static void c_range(struct umn_notifier *n, struct umn_mm *mm,
		    unsigned long start, unsigned long end)
{
	(void)mm;
	clog_add(L_CRANGE, n, NULL, start, end);
}

static void c_release(struct umn_notifier *n, struct umn_mm *mm)
{
	(void)mm;
	clog_add(L_RELEASE, n, NULL, 0, 0);
}

static struct umn_notifier *g_alloc(struct umn_mm *mm)
{
	struct fcls *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	for (int m = 0; m < NMM; m++)
		if (M[m].mm == mm)
			c->idx = NCLS + m;
	return &c->n;
}

static void g_free(struct umn_notifier *n)
{
	__atomic_add_fetch(&frees, 1, __ATOMIC_RELAXED);
	free(n);
}

static const struct umn_notifier_ops cls_ops = {
	.release = c_release,
	.invalidate_range_start = c_start,
	.invalidate_range_end = c_end,
	.invalidate_range = c_range,
};

static const struct umn_notifier_ops get_ops = {
	.release = c_release,
	.invalidate_range_start = c_start,
	.invalidate_range_end = c_end,
	.invalidate_range = c_range,
	.alloc_notifier = g_alloc,
	.free_notifier = g_free,
};

/* ---- model helpers ---- */
static void list_add(struct mmodel *mm, struct fcls *c)
{
	FCHECK(mm->nlist < NCLS + 1);
	memmove(&mm->list[1], &mm->list[0], sizeof(mm->list[0]) * mm->nlist);
	mm->list[0] = c;
	mm->nlist++;
	c->hashed = true;
}

static void list_del(struct mmodel *mm, struct fcls *c)
{
	for (int i = 0; i < mm->nlist; i++) {
		if (mm->list[i] == c) {
			memmove(&mm->list[i], &mm->list[i + 1],
				sizeof(mm->list[0]) * (mm->nlist - i - 1));
			mm->nlist--;
			c->hashed = false;
			return;
		}
	}
	FCHECK(0);
}

static int cidx(const struct fcls *c)
{
	return c->idx;
}

/* Expect exactly this classic sequence: ncl entries of (kind, idx). */
static int cexp_n;
static struct logent cexp[MAXLOG];

static void cexp_add(int kind, const struct fcls *c, unsigned long start,
		     unsigned long end)
{
	FCHECK(cexp_n < MAXLOG);
	cexp[cexp_n++] = (struct logent){ kind, cidx(c), NULL, start, end,
					  false };
}

static void cexp_check(void)
{
	FCHECK(nclog == cexp_n);
	for (int i = 0; i < nclog; i++) {
		FCHECK(clog[i].kind == cexp[i].kind);
		FCHECK(clog[i].idx == cexp[i].idx);
		if (clog[i].kind != L_RELEASE) {
			FCHECK(clog[i].start == cexp[i].start);
			FCHECK(clog[i].end == cexp[i].end);
		}
	}
	nclog = cexp_n = 0;
}

static void seq_went_even(int m)
{
	M[m].odd = false;
	for (int i = 0; i < NISUB; i++) {
		struct fsub *s = &isubs[i];

		if (s->mm != m)
			continue;
		s->collide = false;
		if (s->st == S_DINS) {
			s->st = S_TREE;
		} else if (s->st == S_DREM) {
			void *ret;

			FCHECK(s->rm_thread);
			FCHECK(pthread_join(s->thread, &ret) == 0);
			FCHECK(ret == NULL);
			s->rm_thread = false;
			s->st = S_NONE;
		}
	}
}

/* The interval half of an end (or of a failed start's self-end). */
static void model_inv_end(int m)
{
	struct mmodel *mm = &M[m];

	if (!mm->has_itree)
		return;
	if (--mm->nact == 0 && mm->odd)
		seq_went_even(m);
}

/* White-box invariants after every step. */
static void check_invariants(void)
{
	for (int m = 0; m < NMM; m++) {
		struct umn_subscriptions *subs = subs_of(m);
		unsigned long seq;

		if (!subs)
			continue;
		seq = *subs->seq;
		/* 2: only |1 from even, or +1 from odd (one step may do both:
		 * start then end) */
		if (seq != M[m].seq) {
			FCHECK(seq > M[m].seq && seq - M[m].seq <= 3);
		}
		M[m].seq = seq;
		FCHECK((bool)(seq & 1) == M[m].odd);
		if (M[m].has_itree)
			FCHECK(subs->active_invalidate_ranges ==
			       (unsigned long)M[m].nact);
		/* 1 */
		if (subs->active_invalidate_ranges == 0) {
			FCHECK(!(seq & 1));
			FCHECK(subs->deferred_list == NULL);
		}
	}
	for (int i = 0; i < NISUB; i++) {
		struct fsub *s = &isubs[i];

		if (s->st == S_NONE)
			continue;
		FCHECK(s->sub.invalidate_seq & 1); /* 5 */
		FCHECK(umn_interval_start(&s->sub) == s->start);
		FCHECK(umn_interval_last(&s->sub) == s->last);
	}
	FCHECK(warns == warns_expected);
}

/* ---- operations ---- */
static void *remove_thread(void *arg)
{
	struct fsub *s = arg;

	return umn_interval_notifier_remove(&s->sub) ? (void *)1 : NULL;
}

static void op_insert(struct input *in, bool locked)
{
	struct fsub *s = &isubs[byte(in) % NISUB];
	int m = byte(in) % NMM;
	struct mmodel *mm = &M[m];
	unsigned long start = value(in), length = value(in), last;
	int ret, want;
	bool live = s->st != S_NONE;

	s->refuse = byte(in) & 1;
	if (!live && !mm->has_itree && mm->nact) /* needs the write lock */
		return;
	if (live) {
		want = -EBUSY;
		warns_expected++;
	} else if (length == 0 ||
		   __builtin_add_overflow(start, length - 1, &last)) {
		want = -EOVERFLOW;
	} else if (mm->torn) {
		want = -EINVAL;
		warns_expected++;
	} else {
		want = 0;
	}
	if (locked) {
		umn_mmap_write_lock(mm->mm);
		ret = umn_interval_notifier_insert_locked(&s->sub, mm->mm,
							  start, length,
							  &isub_ops);
		umn_mmap_write_unlock(mm->mm);
	} else {
		ret = umn_interval_notifier_insert(&s->sub, mm->mm, start,
						   length, &isub_ops);
	}
	FCHECK(ret == want);
	if (ret)
		return;
	mm->has_subs = mm->has_itree = true;
	s->mm = m;
	s->start = start;
	s->last = last;
	s->has_read = false;
	s->dpend = false;
	s->collide = false;
	if (mm->nact) {
		s->collide = true;
		if (mm->odd) {
			s->st = S_DINS;
		} else {
			s->st = S_TREE;
			mm->odd = true;
		}
	} else {
		s->st = S_TREE;
	}
}

static void op_remove(struct input *in)
{
	struct fsub *s = &isubs[byte(in) % NISUB];
	int ret, want = 0;

	if (s->st == S_TREE && M[s->mm].odd) {
		/* Waits for the last end: on a helper thread. */
		FCHECK(!s->rm_thread);
		FCHECK(pthread_create(&s->thread, NULL, remove_thread, s) == 0);
		s->rm_thread = true;
		for (long i = 0; __atomic_load_n(&s->sub.state,
			 __ATOMIC_ACQUIRE) != UMNP_ISUB_DEFER_REMOVE; i++) {
			FCHECK(i < 100000000);
			sched_yield();
		}
		s->st = S_DREM;
		return;
	}
	if (s->st == S_NONE || s->st == S_DREM) {
		want = -EINVAL;
		warns_expected++;
	}
	ret = umn_interval_notifier_remove(&s->sub);
	FCHECK(ret == want);
	if (!ret)
		s->st = S_NONE;
}

static void op_start(struct input *in)
{
	int m = byte(in) % NMM;
	struct mmodel *mm = &M[m];
	uint8_t mode = byte(in) % 3;
	unsigned long start = value(in), end = value(in);
	struct umn_notifier_range *r;
	bool blockable = mode == 0, deferrable = mode == 2;
	bool any = false, refused_i = false;
	int ret = 0, want = 0, cl_refuser = -1;
	bool called[NISUB] = { false };

	if (mm->nact == MAXACT)
		return;
	r = &mm->act[mm->nact];
	umn_notifier_range_init(r, (enum umn_notifier_event)(byte(in) %
					UMN_NOTIFY_NR_EVENTS),
				deferrable ? UMN_NOTIFIER_RANGE_DEFERRABLE : 0,
				mm->mm, start, end);
	if (blockable)
		umn_notifier_invalidate_range_start(r);
	else
		ret = umn_notifier_invalidate_range_start_nonblock(r);

	if (!mm->has_subs) {
		FCHECK(ret == 0 && nilog == 0 && nclog == 0);
		mm->nact++;
		return;
	}
	/* Interval half. */
	if (mm->has_itree) {
		for (int i = 0; i < NISUB; i++)
			if (isubs[i].mm == m && in_tree(&isubs[i]) &&
			    isub_intersects(&isubs[i], start, end))
				any = true;
		if (any)
			mm->odd = true;
		for (int k = 0; k < nilog; k++) {
			struct fsub *s = &isubs[ilog[k].idx];

			FCHECK(ilog[k].range == r);
			FCHECK(s->mm == m && in_tree(s));
			FCHECK(isub_intersects(s, start, end));
			FCHECK(!called[s->idx]);
			called[s->idx] = true;
			if (!ilog[k].refused) {
				s->dirty = true;
				s->collide = true;
				continue;
			}
			if (blockable) {
				warns_expected++;
			} else if (deferrable) {
				unsigned long a = start > s->start ? start :
					s->start;
				unsigned long b = end - 1 < s->last ? end - 1 :
					s->last;

				s->dirty = s->collide = true;
				if (!s->dpend) {
					s->dstart = a;
					s->dlast = b;
				} else {
					if (a < s->dstart)
						s->dstart = a;
					if (b > s->dlast)
						s->dlast = b;
				}
				s->dpend = true;
			} else {
				/* the first refusal stops the walk */
				FCHECK(k == nilog - 1);
				refused_i = true;
			}
		}
		if (!refused_i)
			for (int i = 0; i < NISUB; i++)
				if (isubs[i].mm == m && in_tree(&isubs[i]) &&
				    isub_intersects(&isubs[i], start, end))
					FCHECK(called[i]);
		nilog = 0;
		mm->nact++;
		if (refused_i) {
			want = -EAGAIN;
			model_inv_end(m);
			FCHECK(ret == want);
			FCHECK(nclog == 0);
			return;
		}
	}
	/* Classic half, in list order. */
	for (int i = 0; i < mm->nlist; i++) {
		struct fcls *c = mm->list[i];

		cexp_add(L_CSTART, c, start, end);
		if (!c->refuse)
			continue;
		if (blockable || deferrable) {
			warns_expected++;
			continue;
		}
		cl_refuser = i;
		break;
	}
	if (cl_refuser >= 0) {
		for (int i = 0; i < cl_refuser; i++)
			cexp_add(L_CEND, mm->list[i], start, end);
		want = -EAGAIN;
		if (mm->has_itree) {
			model_inv_end(m);
		}
	} else if (!mm->has_itree) {
		mm->nact++;
	}
	for (int k = 0; k < nclog; k++)
		if (clog[k].kind != L_CRANGE)
			FCHECK(clog[k].range == r);
	cexp_check();
	FCHECK(ret == want);
}

static void op_end(struct input *in)
{
	int m = byte(in) % NMM;
	struct mmodel *mm = &M[m];
	int k = byte(in);
	bool only = k & 0x80;
	struct umn_notifier_range r;

	if (!mm->nact) {
		/* End without a start: reported and ignored.  Only when the
		 * model knows what "ignored" must look like (no classic). */
		if (!mm->has_itree || mm->nlist)
			return;
		umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm->mm, 0, 16);
		umn_notifier_invalidate_range_end(&r);
		warns_expected++;
		FCHECK(nilog == 0 && nclog == 0);
		return;
	}
	k %= mm->nact;
	r = mm->act[k];
	memmove(&mm->act[k], &mm->act[k + 1],
		sizeof(r) * (size_t)(mm->nact - k - 1));
	if (only) {
		umn_notifier_invalidate_range(mm->mm, r.start, r.end);
		for (int i = 0; i < mm->nlist; i++)
			cexp_add(L_CRANGE, mm->list[i], r.start, r.end);
		umn_notifier_invalidate_range_only_end(&r);
	} else {
		umn_notifier_invalidate_range_end(&r);
	}
	if (mm->has_itree)
		model_inv_end(m);
	else
		mm->nact--;
	for (int i = 0; i < mm->nlist; i++) {
		if (!only)
			cexp_add(L_CRANGE, mm->list[i], r.start, r.end);
		cexp_add(L_CEND, mm->list[i], r.start, r.end);
	}
	cexp_check();
	FCHECK(nilog == 0);
}

static void op_register(struct input *in, bool locked)
{
	struct fcls *c = &cls[byte(in) % NCLS];
	int m = byte(in) % NMM;
	struct mmodel *mm = &M[m];
	int ret, want = 0;

	c->refuse = byte(in) & 1;
	if (mm->nact)
		return; /* the write lock would wait for the open pairs */
	if (c->registered) {
		want = -EBUSY;
		warns_expected++;
	} else if (mm->torn) {
		want = -EINVAL;
		warns_expected++;
	}
	c->n.ops = &cls_ops;
	if (locked) {
		umn_mmap_write_lock(mm->mm);
		ret = umn_notifier_register_locked(&c->n, mm->mm);
		umn_mmap_write_unlock(mm->mm);
	} else {
		ret = umn_notifier_register(&c->n, mm->mm);
	}
	FCHECK(ret == want);
	if (ret)
		return;
	c->registered = true;
	c->released = false;
	c->mm = m;
	mm->has_subs = true;
	list_add(mm, c);
}

static void op_unregister(struct input *in)
{
	struct fcls *c = &cls[byte(in) % NCLS];
	int m = byte(in) % NMM;
	int ret, want = 0;

	if (!c->registered || c->mm != m) {
		want = -EINVAL;
		warns_expected++;
	} else if (c->hashed) {
		if (!c->released)
			cexp_add(L_RELEASE, c, 0, 0);
		list_del(&M[m], c);
	}
	ret = umn_notifier_unregister(&c->n, M[m].mm);
	FCHECK(ret == want);
	cexp_check();
	if (!ret)
		c->registered = false;
}

static void op_get(struct input *in)
{
	int m = byte(in) % NMM;
	struct mmodel *mm = &M[m];
	bool saturate = (byte(in) & 7) == 0;
	struct umn_notifier *n;

	if (mm->nact)
		return;
	if (mm->torn) {
		errno = 0;
		FCHECK(umn_notifier_get(&get_ops, mm->mm) == NULL);
		FCHECK(errno == EINVAL);
		warns_expected++;
		return;
	}
	if (saturate && mm->get) {
		unsigned int users = mm->get->n.users;

		mm->get->n.users = UINT_MAX;
		errno = 0;
		FCHECK(umn_notifier_get(&get_ops, mm->mm) == NULL);
		FCHECK(errno == EOVERFLOW);
		warns_expected++;
		mm->get->n.users = users;
		return;
	}
	n = umn_notifier_get(&get_ops, mm->mm);
	FCHECK(n);
	if (mm->get) {
		FCHECK(n == &mm->get->n);
		mm->get_users++;
		return;
	}
	mm->get = (struct fcls *)n;
	mm->get->mm = m;
	mm->get->registered = true;
	mm->get_users = 1;
	mm->has_subs = true;
	list_add(mm, mm->get);
}

static void op_put(struct input *in)
{
	int m = byte(in) % NMM;
	struct mmodel *mm = &M[m];
	uint8_t b = byte(in);

	if (!mm->get) {
		/* put of a classic that is not from get: -EINVAL */
		struct fcls *c = &cls[b % NCLS];

		FCHECK(umn_notifier_put(&c->n) == -EINVAL);
		warns_expected++;
		return;
	}
	FCHECK(umn_notifier_put(&mm->get->n) == 0);
	if (--mm->get_users)
		return;
	if (mm->get->hashed)
		list_del(mm, mm->get);
	mm->get = NULL;
	pending_frees++;
}

static void op_synchronize(void)
{
	umn_notifier_synchronize();
	FCHECK(__atomic_load_n(&frees, __ATOMIC_RELAXED) == pending_frees);
}

static void model_release(int m)
{
	struct mmodel *mm = &M[m];

	if (mm->has_itree) {
		bool any = false;
		bool called[NISUB] = { false };

		for (int i = 0; i < NISUB; i++)
			if (isubs[i].mm == m && in_tree(&isubs[i]))
				any = true;
		for (int k = 0; k < nilog; k++) {
			struct fsub *s = &isubs[ilog[k].idx];

			FCHECK(s->mm == m && in_tree(s) && !called[s->idx]);
			FCHECK(ilog[k].start == 0 && ilog[k].end == ULONG_MAX);
			called[s->idx] = true;
			if (ilog[k].refused)
				warns_expected++;
			else
				s->dirty = true;
		}
		for (int i = 0; i < NISUB; i++)
			if (isubs[i].mm == m && in_tree(&isubs[i]))
				FCHECK(called[i]);
		nilog = 0;
		if (any) {
			mm->odd = true;
			seq_went_even(m);
		}
	}
	for (int i = 0; i < mm->nlist; i++) {
		struct fcls *c = mm->list[i];

		if (!c->released)
			cexp_add(L_RELEASE, c, 0, 0);
		c->released = true;
		c->hashed = false;
	}
	mm->nlist = 0;
	if (mm->get) /* unhashed: the next get makes a new one */
		mm->get->hashed = false;
	cexp_check();
}

static void op_mm(struct input *in)
{
	int m = byte(in) % NMM;
	struct mmodel *mm = &M[m];
	uint8_t what = byte(in) % 4;

	switch (what) {
	case 0: /* get */
		if (mm->torn) {
			FCHECK(umn_mm_get(mm->mm) == -EINVAL);
			warns_expected++;
		} else {
			FCHECK(umn_mm_get(mm->mm) == 0);
			mm->users++;
		}
		break;
	case 1: /* put */
		if (mm->users == 0) {
			FCHECK(umn_mm_put(mm->mm) == -EINVAL);
			warns_expected++;
			break;
		}
		if (mm->users == 1 && mm->nact)
			break; /* teardown during a pair: the primary's bug */
		FCHECK(umn_mm_put(mm->mm) == 0);
		if (--mm->users == 0) {
			mm->torn = true;
			if (mm->has_subs)
				model_release(m);
		}
		break;
	case 2: /* the primary's own release */
		if (mm->nact || mm->get)
			break; /* (an unhashed get sub: the model has one) */
		umn_notifier_release(mm->mm);
		if (mm->has_subs)
			model_release(m);
		break;
	default: /* mmap lock misuse: reported, ignored */
		umn_mmap_read_unlock(mm->mm);
		umn_mmap_write_unlock(mm->mm);
		umn_mmap_write_downgrade(mm->mm);
		warns_expected += 3;
		break;
	}
}

static void op_read(struct input *in)
{
	struct fsub *s = &isubs[byte(in) % NISUB];
	uint8_t what = byte(in) % 3;

	if (what == 0) { /* read_begin */
		unsigned long seq;

		if (s->st == S_NONE) {
			umn_interval_read_begin(&s->sub);
			warns_expected++;
			return;
		}
		if (s->collide)
			return; /* would wait for the end */
		seq = umn_interval_read_begin(&s->sub);
		FCHECK(seq & 1);
		FCHECK(!umn_interval_read_retry(&s->sub, seq));
		s->rseq = seq;
		s->has_read = true;
		s->dirty = false;
	} else if (what == 1) { /* read_retry / check_retry */
		if (!s->has_read)
			return;
		FCHECK(umn_interval_read_retry(&s->sub, s->rseq) == s->dirty);
		FCHECK(umn_interval_check_retry(&s->sub, s->rseq) == s->dirty);
	} else { /* take_deferred */
		unsigned long a = 1, b = 0;
		int ret;

		FCHECK(umn_interval_take_deferred(&s->sub, NULL, &b) ==
		       -EINVAL);
		if (s->st == S_NONE && !s->sub.mm) {
			/* not inserted: reported */
			FCHECK(umn_interval_take_deferred(&s->sub, &a, &b) ==
			       -EINVAL);
			warns_expected++;
			return;
		}
		FCHECK(umn_interval_deferred_pending(&s->sub) == s->dpend);
		ret = umn_interval_take_deferred(&s->sub, &a, &b);
		FCHECK(ret == (s->dpend ? 1 : 0));
		if (ret) {
			FCHECK(a == s->dstart && b == s->dlast);
		}
		s->dpend = false;
	}
}

/* ---- one input ---- */
static void setup(void)
{
	memset(isubs, 0, sizeof(isubs));
	memset(cls, 0, sizeof(cls));
	memset(M, 0, sizeof(M));
	for (int i = 0; i < NISUB; i++) {
		isubs[i].idx = i;
		isubs[i].mm = -1;
	}
	for (int i = 0; i < NCLS; i++)
		cls[i].idx = i;
	for (int m = 0; m < NMM; m++) {
		M[m].mm = umn_mm_new();
		FCHECK(M[m].mm);
		umn_mm_grab(M[m].mm); /* ours: the object outlives teardown */
		M[m].users = 1;
	}
	warns = warns_expected = 0;
	pending_at_setup = pending_frees;
	nilog = nclog = cexp_n = 0;
}

static void cleanup(void)
{
	for (int m = 0; m < NMM; m++) {
		while (M[m].nact) {
			umn_notifier_invalidate_range_end(&M[m].act[M[m].nact - 1]);
			M[m].nact--;
			nclog = nilog = 0;
			if (M[m].has_itree && M[m].nact == 0 && M[m].odd)
				seq_went_even(m);
		}
	}
	for (int i = 0; i < NISUB; i++)
		if (isubs[i].st != S_NONE)
			FCHECK(umn_interval_notifier_remove(&isubs[i].sub) == 0);
	for (int i = 0; i < NCLS; i++)
		if (cls[i].registered)
			FCHECK(umn_notifier_unregister(&cls[i].n,
						       M[cls[i].mm].mm) == 0);
	for (int m = 0; m < NMM; m++) {
		while (M[m].get && M[m].get_users) {
			FCHECK(umn_notifier_put(&M[m].get->n) == 0);
			M[m].get_users--;
		}
		if (M[m].get)
			pending_frees++;
		M[m].get = NULL;
	}
	for (int m = 0; m < NMM; m++) {
		while (M[m].users-- > 0)
			FCHECK(umn_mm_put(M[m].mm) == 0);
		/* Only ours is left, once queued frees have run (they hold a
		 * count reference each until then). */
		if (pending_frees == pending_at_setup)
			FCHECK(umn_mm_count(M[m].mm) == 1);
		umn_mm_drop(M[m].mm);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	static bool once;

	if (!once) {
		umn_set_warn_handler(warn_handler, NULL);
		once = true;
	}
	setup();
	for (int steps = 0; in.left && steps < 256; steps++) {
		switch (byte(&in) % 16) {
		case 0: op_insert(&in, false); break;
		case 1: op_insert(&in, true); break;
		case 2: case 3: op_remove(&in); break;
		case 4: case 5: op_start(&in); break;
		case 6: case 7: op_end(&in); break;
		case 8: op_register(&in, byte(&in) & 1); break;
		case 9: op_unregister(&in); break;
		case 10: op_get(&in); break;
		case 11: op_put(&in); break;
		case 12: op_synchronize(); break;
		case 13: op_mm(&in); break;
		default: op_read(&in); break;
		}
		check_invariants();
	}
	cleanup();
	FCHECK(warns == warns_expected);
	return 0;
}
