/* SPDX-License-Identifier: MIT */
/*
 * Bad input gets an errno and a report and leaves the cache intact: bad
 * parameters, len 0 or a wrapping range (-EINVAL), a failing reg (its
 * error, nothing cached), a put of a region not held (reported, ignored),
 * destroy with regions held (-EBUSY, nothing freed), and get/put/destroy
 * from a umn callback (-EDEADLK, in libumn builds with debug checks).
 */
#include "rc_common.h"

static void bad_params(void)
{
	struct umn_regcache_params p = { .ops = &my_ops };
	struct umn_regcache_ops half = { my_reg, NULL };
	int w = warns;

	errno = 0;
	CHECK(umn_regcache_new(NULL, &p) == NULL && errno == EINVAL);
	CHECK(umn_regcache_new(mm, NULL) == NULL && errno == EINVAL);
	p.ops = &half;
	CHECK(umn_regcache_new(mm, &p) == NULL && errno == EINVAL);
	p.ops = &my_ops;
	p.region_size = 8;
	CHECK(umn_regcache_new(mm, &p) == NULL && errno == EINVAL);
	p.region_size = 0;
	p.alignment = 3 * 4096;
	CHECK(umn_regcache_new(mm, &p) == NULL && errno == EINVAL);
	p.alignment = 0;
	p.flags = 0x80;
	CHECK(umn_regcache_new(mm, &p) == NULL && errno == EINVAL);
	CHECK_EQ(warns - w, 6);
	expect_warns += 6;
}

static void bad_ranges_and_reg_failure(void)
{
	struct umn_regcache *rc = new_cache(0, 0, 0);
	struct umn_regcache_region *r = NULL, *s;
	struct umn_regcache_stats st;
	int w = warns;

	CHECK_EQ(umn_regcache_get(rc, BASE, 0, &r), -EINVAL);
	CHECK_EQ(umn_regcache_get(rc, ~0ul - 10, 20, &r), -EINVAL);
	CHECK_EQ(umn_regcache_get(rc, ~0ul - 10, 5, &r), -EINVAL); /* aligns past */
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, NULL), -EINVAL);
	CHECK_EQ(umn_regcache_get(NULL, BASE, PAGE, &r), -EINVAL);
	CHECK_EQ(umn_regcache_invalidate(rc, BASE, 0), -EINVAL);
	CHECK_EQ(warns - w, 6);
	expect_warns += 6;
	CHECK(r == NULL);

	fail_reg = -EIO;
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), -EIO);
	st = stats_of(rc);
	CHECK_EQ(st.regions, 0);
	CHECK_EQ(st.misses, 0);
	CHECK_EQ(umn_regcache_for_each(rc, NULL, NULL), -EINVAL);
	expect_warns++;
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &r), 0);	/* then works */
	CHECK(fresh(r));

	/* put of a region not held: reported, the cache intact */
	umn_regcache_put(rc, r);
	w = warns;
	umn_regcache_put(rc, r);
	CHECK_EQ(warns - w, 1);
	expect_warns++;
	CHECK_EQ(umn_regcache_get(rc, BASE, PAGE, &s), 0);
	CHECK(s == r);
	CHECK_EQ(stats_of(rc).hits, 1);

	/* destroy with a region held: -EBUSY, nothing freed */
	w = warns;
	CHECK_EQ(umn_regcache_destroy(rc), -EBUSY);
	CHECK_EQ(warns - w, 1);
	expect_warns++;
	CHECK(fresh(s));
	CHECK_EQ(deregs, 0);
	umn_regcache_put(rc, s);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(regs, deregs);
}

static void put_to_the_wrong_cache(void)
{
	struct umn_regcache *a = new_cache(0, 0, 0), *b;
	struct umn_regcache_region *r;
	struct umn_regcache_params p = { .ops = &my_ops,
					 .region_size = sizeof(struct my_region) };
	int w = warns;

	b = umn_regcache_new(mm, &p);
	CHECK(b != NULL);
	CHECK_EQ(umn_regcache_get(a, BASE, PAGE, &r), 0);
	umn_regcache_put(b, r);
	CHECK_EQ(warns - w, 1);
	expect_warns++;
	umn_regcache_put(a, r);
	CHECK_EQ(umn_regcache_destroy(a), 0);
	CHECK_EQ(umn_regcache_destroy(b), 0);
}

/* A subscription of the test's own whose callback calls the cache. */
static struct umn_regcache *cb_rc;
static struct umn_regcache_region *cb_held;
static int cb_results[3];

static bool cb_invalidate(struct umn_interval_notifier *sub,
			  const struct umn_notifier_range *range,
			  unsigned long cur_seq)
{
	struct umn_regcache_region *r;

	(void)range;
	umn_interval_set_seq(sub, cur_seq);
	cb_results[0] = umn_regcache_get(cb_rc, BASE + 100 * PAGE, PAGE, &r);
	umn_regcache_put(cb_rc, cb_held);	/* refused, kept held */
	cb_results[1] = umn_regcache_destroy(cb_rc);
	cb_results[2] = umn_regcache_flush(cb_rc);
	return true;
}

static const struct umn_interval_notifier_ops cb_ops = {
	.invalidate = cb_invalidate,
};

static void from_a_callback(void)
{
	struct umn_interval_notifier sub;
	int w;

	if (!umn_debug_enabled()) {
		printf("# from_a_callback: skipped, libumn built without its "
		       "debug checks (no callback tracking)\n");
		return;
	}
	cb_rc = new_cache(0, 0, 0);
	CHECK_EQ(umn_regcache_get(cb_rc, BASE + 200 * PAGE, PAGE, &cb_held), 0);
	memset(&sub, 0, sizeof(sub));
	CHECK_EQ(umn_interval_notifier_insert(&sub, mm, BASE + 300 * PAGE,
					      PAGE, &cb_ops), 0);
	w = warns;
	primary_unmap(300, 1);
	CHECK_EQ(cb_results[0], -EDEADLK);
	CHECK_EQ(cb_results[1], -EDEADLK);
	CHECK_EQ(cb_results[2], -EDEADLK);
	CHECK_EQ(warns - w, 4);
	expect_warns += 4;
	CHECK_EQ(umn_interval_notifier_remove(&sub), 0);
	CHECK(fresh(cb_held));
	umn_regcache_put(cb_rc, cb_held);	/* the reference was kept */
	CHECK_EQ(stats_of(cb_rc).regions, 1);
	CHECK_EQ(umn_regcache_destroy(cb_rc), 0);
	CHECK_EQ(regs, deregs);
}

int main(void)
{
	rc_setup(30);
	RUN(bad_params);
	RUN(bad_ranges_and_reg_failure);
	RUN(put_to_the_wrong_cache);
	RUN(from_a_callback);
	rc_teardown();
	return 0;
}
