/* SPDX-License-Identifier: MIT */
/*
 * Allocation failure, SQLite-style: each scenario runs once per allocation
 * it reaches, with exactly that allocation failing (N = 1, 2, ... until a
 * run reaches fewer than N allocations).  At every step of a scenario:
 * - the API either succeeds or fails as documented: -ENOMEM, or NULL with
 *   errno ENOMEM (and only when the injected failure was reached);
 * - state is intact: the same call, repeated, succeeds;
 * - no callback is lost: the counts at the end equal those of a run
 *   without failures;
 * - nothing leaks (LeakSanitizer, in the ASan build).
 * Needs a -DUMN_FAULT_INJECT=ON build; skips (77) otherwise.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <umn/umn.h>
#include <umn/model.h>
#include "harness.h"

#if !UMN_FAULT_INJECT
int main(void)
{
	printf("# needs -DUMN_FAULT_INJECT=ON: skipped\n");
	return T_SKIP;
}
#else
#include "alloc.h"

static unsigned long fail_at;
static unsigned long warns;

static void count_warn(const char *f, const char *m, void *a)
{
	(void)a;
	fprintf(stderr, "# warn: %s: %s\n", f, m);
	warns++;
}

/* Was the injected failure reached? */
static bool injected(void)
{
	return fail_at && umn__fault_alloc_count() >= fail_at;
}

/* An int-returning call: 0, or -ENOMEM from the injected failure, then
 * the repeated call succeeds. */
#define TRY(call)                                                            \
	do {                                                                 \
		int r_ = (call);                                             \
		if (r_) {                                                    \
			if (r_ != -ENOMEM || !injected())                    \
				fprintf(stderr, "N=%lu: %s returned %d\n",   \
					fail_at, #call, r_);                 \
			CHECK_EQ(r_, -ENOMEM);                               \
			CHECK(injected());                                   \
			CHECK_EQ((call), 0);                                 \
		}                                                            \
	} while (0)

/* A pointer-returning call: non-NULL, or NULL + ENOMEM, then it works. */
#define TRYP(var, call)                                                      \
	do {                                                                 \
		errno = 0;                                                   \
		(var) = (call);                                              \
		if (!(var)) {                                                \
			CHECK_EQ(errno, ENOMEM);                             \
			CHECK(injected());                                   \
			(var) = (call);                                      \
			CHECK((var) != NULL);                                \
		}                                                            \
	} while (0)

/* ---- subscribers that count what they get ---- */

struct isub {
	struct umn_interval_notifier sub;
	int calls;
};

static bool isub_invalidate(struct umn_interval_notifier *sub,
			    const struct umn_notifier_range *range,
			    unsigned long cur_seq)
{
	(void)range;
	umn_interval_set_seq(sub, cur_seq);
	((struct isub *)sub)->calls++;
	return true;
}

static const struct umn_interval_notifier_ops isub_ops = {
	.invalidate = isub_invalidate,
};

struct csub {
	struct umn_notifier n;
	int starts, ends, releases;
};

static int csub_start(struct umn_notifier *n, const struct umn_notifier_range *r)
{
	(void)r;
	((struct csub *)n)->starts++;
	return 0;
}

static void csub_end(struct umn_notifier *n, const struct umn_notifier_range *r)
{
	(void)r;
	((struct csub *)n)->ends++;
}

static void csub_release(struct umn_notifier *n, struct umn_mm *mm)
{
	(void)mm;
	((struct csub *)n)->releases++;
}

static int gallocs, gfrees;

static struct umn_notifier *g_alloc(struct umn_mm *mm)
{
	struct csub *c = calloc(1, sizeof(*c));

	(void)mm;
	if (c)
		gallocs++;
	return c ? &c->n : NULL;
}

static void g_free(struct umn_notifier *n)
{
	gfrees++;
	free(n);
}

static const struct umn_notifier_ops csub_ops = {
	.invalidate_range_start = csub_start,
	.invalidate_range_end = csub_end,
	.release = csub_release,
};

static const struct umn_notifier_ops gsub_ops = {
	.invalidate_range_start = csub_start,
	.invalidate_range_end = csub_end,
	.alloc_notifier = g_alloc,
	.free_notifier = g_free,
};

static void invalidate(struct umn_mm *mm, unsigned long start,
		       unsigned long end)
{
	struct umn_notifier_range r;

	umn_notifier_range_init(&r, UMN_NOTIFY_UNMAP, 0, mm, start, end);
	umn_mmap_read_lock(mm);
	umn_notifier_invalidate_range_start(&r);
	umn_notifier_invalidate_range_end(&r);
	umn_mmap_read_unlock(mm);
}

/* ---- scenarios ---- */

/* New address space; interval subscriptions, a classic one and a shared
 * one; invalidations; removal; teardown. */
static void scenario_core(void)
{
	struct isub a = { 0 }, b = { 0 };
	struct csub c = { .n.ops = &csub_ops };
	struct umn_notifier *g;
	struct umn_mm *mm;
	unsigned long seq;

	gallocs = gfrees = 0;
	TRYP(mm, umn_mm_new());
	TRY(umn_interval_notifier_insert(&a.sub, mm, 0x1000, 0x1000, &isub_ops));
	TRY(umn_interval_notifier_insert(&b.sub, mm, 0x4000, 0x2000, &isub_ops));
	TRY(umn_notifier_register(&c.n, mm));
	TRYP(g, umn_notifier_get(&gsub_ops, mm));
	invalidate(mm, 0, 0x10000);
	invalidate(mm, 0x4000, 0x5000);
	seq = umn_interval_read_begin(&a.sub);
	CHECK(!umn_interval_read_retry(&a.sub, seq));
	TRY(umn_interval_notifier_remove(&a.sub));
	invalidate(mm, 0, 0x10000);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(b.calls, 3);
	CHECK_EQ(c.starts, 3);
	CHECK_EQ(c.ends, 3);
	CHECK_EQ(((struct csub *)g)->starts, 3);
	TRY(umn_notifier_unregister(&c.n, mm));
	CHECK_EQ(c.releases, 1);
	TRY(umn_notifier_put(g));
	umn_notifier_synchronize();
	CHECK_EQ(gallocs, 1);
	CHECK_EQ(gfrees, 1);
	TRY(umn_interval_notifier_remove(&b.sub));
	TRY(umn_mm_put(mm));
}

/* The first subscription of each kind on a fresh address space (each
 * allocates the subscriptions object), unlocked and _locked. */
static void scenario_first(void)
{
	struct isub a = { 0 };
	struct csub c = { .n.ops = &csub_ops };
	struct umn_notifier *g;
	struct umn_mm *mm;
	int kind;

	for (kind = 0; kind < 6; kind++) {
		gallocs = gfrees = 0;
		memset(&a, 0, sizeof(a));
		memset(&c, 0, sizeof(c));
		c.n.ops = &csub_ops;
		TRYP(mm, umn_mm_new());
		switch (kind) {
		case 0:
			TRY(umn_interval_notifier_insert(&a.sub, mm, 0, 0x1000,
							 &isub_ops));
			break;
		case 1:
			umn_mmap_write_lock(mm);
			TRY(umn_interval_notifier_insert_locked(&a.sub, mm, 0,
								0x1000,
								&isub_ops));
			umn_mmap_write_unlock(mm);
			break;
		case 2:
			TRY(umn_notifier_register(&c.n, mm));
			break;
		case 3:
			umn_mmap_write_lock(mm);
			TRY(umn_notifier_register_locked(&c.n, mm));
			umn_mmap_write_unlock(mm);
			break;
		case 4:
			TRYP(g, umn_notifier_get(&gsub_ops, mm));
			/* a failed get freed its fresh subscription */
			CHECK_EQ(gallocs - gfrees, 1);
			break;
		case 5:
			umn_mmap_write_lock(mm);
			TRYP(g, umn_notifier_get_locked(&gsub_ops, mm));
			umn_mmap_write_unlock(mm);
			CHECK_EQ(gallocs - gfrees, 1);
			break;
		}
		invalidate(mm, 0, 0x2000);
		if (kind < 2) {
			CHECK_EQ(a.calls, 1);
			TRY(umn_interval_notifier_remove(&a.sub));
		} else if (kind < 4) {
			CHECK_EQ(c.starts, 1);
			CHECK_EQ(c.ends, 1);
			TRY(umn_notifier_unregister(&c.n, mm));
		} else {
			CHECK_EQ(((struct csub *)g)->ends, 1);
			TRY(umn_notifier_put(g));
			umn_notifier_synchronize();
			CHECK_EQ(gallocs, gfrees);
		}
		TRY(umn_mm_put(mm));
	}
}

/* The model: its operations allocate regions, page tables and frames. */
static void scenario_model(void)
{
	struct umn_model *model;
	struct umn_model_file *file;
	struct isub a = { 0 };
	unsigned long addr, faddr, moved;
	char buf[64] = "hello";
	const unsigned long P = UMN_MODEL_PAGE_SIZE;

	TRYP(model, umn_model_new(0));
	TRY(umn_model_mmap(model, 0, 16 * P, UMN_MODEL_PROT_READ |
			   UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE, NULL, 0,
			   &addr));
	TRY(umn_interval_notifier_insert(&a.sub, umn_model_mm(model), addr,
					 16 * P, &isub_ops));
	TRY(umn_model_write(model, addr + 3 * P, buf, sizeof(buf)));
	TRY(umn_model_write(model, addr + 9 * P, buf, sizeof(buf)));
	TRY(umn_model_mprotect(model, addr + 4 * P, 2 * P,
			       UMN_MODEL_PROT_READ));
	TRY(umn_model_munmap(model, addr + 8 * P, P));
	TRY(umn_model_mremap(model, addr + 9 * P, P, 2 * P,
			     UMN_MODEL_MREMAP_MAYMOVE, &moved));
	TRYP(file, umn_model_file_new(4 * P));
	TRY(umn_model_mmap(model, 0, 4 * P, UMN_MODEL_PROT_READ |
			   UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_SHARED, file, 0,
			   &faddr));
	TRY(umn_model_write(model, faddr, buf, sizeof(buf)));
	umn_model_file_put(file);
	memset(buf, 0, sizeof(buf));
	TRY(umn_model_read(model, addr + 3 * P, buf, 5));
	CHECK(!memcmp(buf, "hello", 5));
	CHECK(a.calls >= 3);	/* mprotect, munmap, mremap at least */
	TRY(umn_interval_notifier_remove(&a.sub));
	umn_model_destroy(model);
}

static void sweep(const char *name, void (*fn)(void))
{
	unsigned long n;

	for (n = 1;; n++) {
		bool hit;

		warns = 0;
		fail_at = n;
		umn__fault_alloc_fail_at(n);
		fn();
		hit = umn__fault_alloc_count() >= n;
		umn__fault_alloc_fail_at(0);
		fail_at = 0;
		CHECK_EQ(warns, 0);
		if (!hit)
			break;
		CHECK(n < 100000);
	}
	printf("# %s: %lu allocations, each failed once\n", name, n - 1);
	CHECK(n > 1);	/* the scenario does allocate */
}

int main(void)
{
	umn_set_warn_handler(count_warn, NULL);
	sweep("core", scenario_core);
	sweep("first subscription", scenario_first);
	sweep("model", scenario_model);
	return 0;
}
#endif
