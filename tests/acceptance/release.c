/* SPDX-License-Identifier: MIT */
/* release: tearing the address space down calls interval release (RELEASE)
 * first, then classic release, then exit_mmap's UNMAP still reaches the
 * interval subscriptions; the device is empty afterwards and its
 * subscriptions still need removal. */
#include <stdlib.h>
#include <string.h>
#include "common.h"

static char order[16];
static int norder;

static bool rec_invalidate(struct umn_interval_notifier *sub,
			   const struct umn_notifier_range *range,
			   unsigned long cur_seq)
{
	umn_interval_set_seq(sub, cur_seq);
	if (range->event == UMN_NOTIFY_RELEASE && norder < 15)
		order[norder++] = 'R';           /* interval release */
	else if (range->event == UMN_NOTIFY_UNMAP && norder < 15)
		order[norder++] = 'U';
	return true;
}

static void rec_release(struct umn_notifier *sub, struct umn_mm *mm)
{
	if (norder < 15)
		order[norder++] = 'C';           /* classic release */
}

static const struct umn_interval_notifier_ops rec_iops = {
	.invalidate = rec_invalidate,
};
static const struct umn_notifier_ops rec_ops = { .release = rec_release };

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mm *mm = umn_model_mm(model);
	struct umn_mirror *m = mirror_open(model, NULL);
	struct umn_interval_notifier rec;
	struct umn_notifier classic;
	unsigned long p = map(model, 64 * PAGE, UMN_MODEL_PROT_READ |
			      UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	int *out = ints(64, 0, 0);
	struct umn_mirror_stats st;
	struct umn_mirror_cmd cmd;

	memset(&rec, 0, sizeof(rec));
	memset(&classic, 0, sizeof(classic));
	classic.ops = &rec_ops;
	CHECK_EQ(umn_interval_notifier_insert(&rec, mm, UMN_MODEL_VA_BASE,
					      UMN_MODEL_VA_SIZE, &rec_iops), 0);
	CHECK_EQ(umn_notifier_register(&classic, mm), 0);
	CHECK_EQ(dev(umn_mirror_read, m, p, out, 64, &cmd), 0);
	umn_mirror_stats(m, &st);
	CHECK_EQ(st.entries, 64);

	umn_model_destroy(model);               /* the last users reference */
	order[norder] = 0;
	printf("# order: %s\n", order);
	CHECK(strcmp(order, "RCU") == 0);
	umn_mirror_stats(m, &st);
	CHECK(st.released);
	CHECK_EQ(st.entries, 0);
	CHECK_EQ(dev(umn_mirror_read, m, p, out, 64, &cmd), -EFAULT);

	/* Subscriptions still need removal (they hold the mm object). */
	umn_mirror_destroy(m);
	CHECK_EQ(umn_interval_notifier_remove(&rec), 0);
	umn_notifier_unregister(&classic, mm);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
