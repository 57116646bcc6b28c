/* SPDX-License-Identifier: MIT */
/*
 * model_ops: the model operations no kernel selftest scenario drives, each
 * with a mirroring device and a classic subscriber watching the events:
 *  - mremap: shrink (UNMAP of the tail only), grow in place (nothing the
 *    device holds is invalidated), move (UNMAP of the old range, the data
 *    readable at the new one);
 *  - same-page merging: the merged page's entry is announced with
 *    change_pte inside a CLEAR invalidation, the device drops it and reads
 *    the same bytes back; a CPU write then breaks the sharing for that
 *    page only;
 *  - reclaim aging: young bits set by access, cleared by clear_young /
 *    clear_flush_young, with the secondary MMU's answer ORed in and
 *    test_young stopping at the first "young".
 */
#include <stdlib.h>
#include "common.h"

struct watcher {
	struct umn_notifier n;	/* first: the callbacks cast */
	int starts[UMN_NOTIFY_NR_EVENTS];
	unsigned long last_start, last_end;
	int change_ptes;
	unsigned long pte_addr;
	int clear_calls, flush_calls, test_calls;
	int young;		/* what this secondary MMU answers */
};

static int w_start(struct umn_notifier *n, const struct umn_notifier_range *r)
{
	struct watcher *w = (struct watcher *)n;

	w->starts[r->event]++;
	w->last_start = r->start;
	w->last_end = r->end;
	return 0;
}

static void w_change_pte(struct umn_notifier *n, struct umn_mm *mm,
			 unsigned long addr, unsigned long pte)
{
	struct watcher *w = (struct watcher *)n;

	(void)mm; (void)pte;
	w->change_ptes++;
	w->pte_addr = addr;
}

static int w_clear_young(struct umn_notifier *n, struct umn_mm *mm,
			 unsigned long s, unsigned long e)
{
	struct watcher *w = (struct watcher *)n;

	(void)mm; (void)s; (void)e;
	w->clear_calls++;
	return w->young;
}

static int w_clear_flush_young(struct umn_notifier *n, struct umn_mm *mm,
			       unsigned long s, unsigned long e)
{
	struct watcher *w = (struct watcher *)n;

	(void)mm; (void)s; (void)e;
	w->flush_calls++;
	return w->young;
}

static int w_test_young(struct umn_notifier *n, struct umn_mm *mm,
			unsigned long a)
{
	struct watcher *w = (struct watcher *)n;

	(void)mm; (void)a;
	w->test_calls++;
	return w->young;
}

static const struct umn_notifier_ops watcher_ops = {
	.invalidate_range_start = w_start,
	.change_pte = w_change_pte,
	.clear_young = w_clear_young,
	.clear_flush_young = w_clear_flush_young,
	.test_young = w_test_young,
};

static void mremap_shrink_grow_move(struct umn_model *model,
				    struct umn_mirror *m, struct watcher *w)
{
	int *data = ints(8, 1, 100), *out = ints(8, -1, 0);
	unsigned long addr = map(model, 8 * PAGE, UMN_MODEL_PROT_READ |
				 UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	unsigned long blocker, moved = 0;
	struct umn_mirror_cmd cmd;
	int v;

	CHECK_EQ(umn_model_write(model, addr, data, 8 * PAGE), 0);
	CHECK_EQ(dev(umn_mirror_read, m, addr, out, 8, &cmd), 0);
	check_ints(out, 8, 1, 100);

	/* shrink 8 -> 4 pages: UNMAP of the tail only */
	w->starts[UMN_NOTIFY_UNMAP] = 0;
	CHECK_EQ(umn_model_mremap(model, addr, 8 * PAGE, 4 * PAGE, 0, &moved), 0);
	CHECK_EQ(moved, addr);
	CHECK_EQ(w->starts[UMN_NOTIFY_UNMAP], 1);
	CHECK_EQ(w->last_start, addr + 4 * PAGE);
	CHECK_EQ(w->last_end, addr + 8 * PAGE);
	CHECK(umn_mirror_has_entry(m, addr + 3 * PAGE));
	CHECK(!umn_mirror_has_entry(m, addr + 4 * PAGE));
	CHECK_EQ(umn_model_read(model, addr + 5 * PAGE, &v, sizeof(v)), -EFAULT);
	CHECK_EQ(dev(umn_mirror_read, m, addr + 4 * PAGE, out, 1, &cmd), -EFAULT);

	/* grow 4 -> 8 in place (the tail is free again): nothing invalidated */
	w->starts[UMN_NOTIFY_UNMAP] = 0;
	CHECK_EQ(umn_model_mremap(model, addr, 4 * PAGE, 8 * PAGE, 0, &moved), 0);
	CHECK_EQ(moved, addr);
	CHECK_EQ(w->starts[UMN_NOTIFY_UNMAP], 0);
	CHECK(umn_mirror_has_entry(m, addr));
	CHECK_EQ(dev(umn_mirror_read, m, addr, out, 8, &cmd), 0);
	check_ints(out, 4, 1, 100);		/* kept */
	for (unsigned long i = 4 * PAGE / 4; i < 8 * PAGE / 4; i++)
		CHECK_EQ(out[i], 0);		/* new pages read zero */

	/* grow 8 -> 16 where the next pages are taken: needs MAYMOVE */
	blocker = addr + 8 * PAGE;
	CHECK_EQ(umn_model_mmap(model, blocker, PAGE, UMN_MODEL_PROT_READ,
				UMN_MODEL_MAP_PRIVATE | UMN_MODEL_MAP_FIXED,
				NULL, 0, &blocker), 0);
	CHECK(umn_model_mremap(model, addr, 8 * PAGE, 16 * PAGE, 0, &moved) != 0);
	w->starts[UMN_NOTIFY_UNMAP] = 0;
	CHECK_EQ(umn_model_mremap(model, addr, 8 * PAGE, 16 * PAGE,
				  UMN_MODEL_MREMAP_MAYMOVE, &moved), 0);
	CHECK(moved != addr);
	CHECK(w->starts[UMN_NOTIFY_UNMAP] >= 1);	/* the old range */
	for (unsigned long i = 0; i < 8; i++)
		CHECK(!umn_mirror_has_entry(m, addr + i * PAGE));
	CHECK_EQ(dev(umn_mirror_read, m, moved, out, 4, &cmd), 0);
	check_ints(out, 4, 1, 100);		/* the data moved along */
	check_primary(model, moved, out, 4 * PAGE);
	check_mirror(m);
	CHECK_EQ(umn_model_munmap(model, moved, 16 * PAGE), 0);
	CHECK_EQ(umn_model_munmap(model, blocker, PAGE), 0);
	free(data);
	free(out);
}

static void merge_pages(struct umn_model *model, struct umn_mirror *m,
			struct watcher *w)
{
	unsigned long addr = map(model, 2 * PAGE, UMN_MODEL_PROT_READ |
				 UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	int *same = ints(1, 0, 7), *out = ints(1, -1, 0), v = 99, r;
	struct umn_mirror_cmd cmd;

	CHECK_EQ(umn_model_write(model, addr, same, PAGE), 0);
	CHECK_EQ(umn_model_write(model, addr + PAGE, same, PAGE), 0);
	CHECK_EQ(dev(umn_mirror_read, m, addr + PAGE, out, 1, &cmd), 0);
	CHECK(umn_mirror_has_entry(m, addr + PAGE));

	w->change_ptes = 0;
	w->starts[UMN_NOTIFY_CLEAR] = 0;
	CHECK_EQ(umn_model_merge(model, addr + PAGE, addr), 0);
	/* as KSM: one CLEAR write-protects the source page, one replaces the
	 * merged page's entry (the last one seen) */
	CHECK_EQ(w->starts[UMN_NOTIFY_CLEAR], 2);
	CHECK_EQ(w->last_start, addr + PAGE);
	CHECK_EQ(w->last_end, addr + 2 * PAGE);
	CHECK_EQ(w->change_ptes, 1);
	CHECK_EQ(w->pte_addr, addr + PAGE);
	CHECK(!umn_mirror_has_entry(m, addr + PAGE));	/* dropped */
	CHECK_EQ(dev(umn_mirror_read, m, addr + PAGE, out, 1, &cmd), 0);
	check_ints(out, 1, 0, 7);			/* same bytes */

	/* A CPU write breaks the sharing for that page only. */
	CHECK_EQ(umn_model_write(model, addr + PAGE, &v, sizeof(v)), 0);
	CHECK(!umn_mirror_has_entry(m, addr + PAGE));
	CHECK_EQ(umn_model_read(model, addr, &r, sizeof(r)), 0);
	CHECK_EQ(r, 7);
	CHECK_EQ(umn_model_read(model, addr + PAGE, &r, sizeof(r)), 0);
	CHECK_EQ(r, 99);
	/* Different contents do not merge. */
	CHECK_EQ(umn_model_merge(model, addr + PAGE, addr), -EAGAIN);
	check_mirror(m);
	CHECK_EQ(umn_model_munmap(model, addr, 2 * PAGE), 0);
	free(same);
	free(out);
}

static void reclaim_aging(struct umn_model *model, struct watcher *w)
{
	unsigned long addr = map(model, 4 * PAGE, UMN_MODEL_PROT_READ |
				 UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	int v = 1;

	CHECK_EQ(umn_model_write(model, addr, &v, sizeof(v)), 0);
	CHECK_EQ(umn_model_write(model, addr + PAGE, &v, sizeof(v)), 0);
	w->young = 0;
	CHECK_EQ(umn_model_test_young(model, addr), 1);	/* accessed */
	CHECK_EQ(umn_model_clear_young(model, addr, 4 * PAGE), 2);
	CHECK(w->clear_calls > 0);
	CHECK_EQ(umn_model_test_young(model, addr), 0);	/* cleared */
	/* the secondary MMU says "young": ORed in by every call */
	w->young = 1;
	w->test_calls = 0;
	CHECK_EQ(umn_model_test_young(model, addr), 1);
	CHECK_EQ(w->test_calls, 1);
	CHECK_EQ(umn_model_clear_flush_young(model, addr, 2 * PAGE), 2);
	CHECK(w->flush_calls > 0);
	w->young = 0;
	CHECK_EQ(umn_model_clear_flush_young(model, addr, 2 * PAGE), 0);
	CHECK_EQ(umn_model_munmap(model, addr, 4 * PAGE), 0);
}

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	struct watcher w;

	memset(&w, 0, sizeof(w));
	w.n.ops = &watcher_ops;
	CHECK_EQ(umn_notifier_register(&w.n, umn_model_mm(model)), 0);
	mremap_shrink_grow_move(model, m, &w);
	printf("ok - mremap shrink, grow, move\n");
	merge_pages(model, m, &w);
	printf("ok - same-page merging\n");
	reclaim_aging(model, &w);
	printf("ok - reclaim aging\n");
	CHECK_EQ(umn_notifier_unregister(&w.n, umn_model_mm(model)), 0);
	umn_mirror_destroy(m);
	umn_model_destroy(model);
	printf("3 passed, 0 failed\n");
	return 0;
}
