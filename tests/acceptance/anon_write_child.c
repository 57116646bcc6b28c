/* SPDX-License-Identifier: MIT */
/*
 * anon_write_child: after fork, the child's own device writes a private
 * region: the child sees the data, the parent's copy is unchanged (COW).
 * Variants as hmm-tests: with and without migrating to the parent's device
 * first, 4 KiB and 2 MiB pages.  The child is a model fork: a new mm with no
 * subscription (the parent's device sees PROTECTION_PAGE).
 */
#include <stdlib.h>
#include "common.h"

static void one(bool migrate, bool huge)
{
	unsigned long npages = huge ? UMN_MODEL_HUGE_PAGES : NPAGES;
	struct umn_model *model = umn_model_new(0), *child;
	struct umn_mirror *m = mirror_open(model, NULL), *cm;
	unsigned long addr = map(model, npages * PAGE, UMN_MODEL_PROT_READ |
				 UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE |
				 (huge ? UMN_MODEL_MAP_HUGE : 0));
	int *data = ints(npages, 1, 0), *neg = ints(npages, -1, 0);
	int *out = ints(npages, 0, 0);
	struct umn_mirror_cmd cmd;
	struct umn_mirror_stats st;

	printf("# migrate=%d huge=%d\n", migrate, huge);
	CHECK_EQ(umn_model_write(model, addr, data, npages * PAGE), 0);
	if (migrate && !huge) {
		CHECK_EQ(dev(umn_mirror_migrate_to_device, m, addr, out,
			     npages, &cmd), 0);
		CHECK_EQ(cmd.cpages, npages);
	} else {
		CHECK_EQ(dev(umn_mirror_read, m, addr, out, npages, &cmd), 0);
	}
	check_ints(out, npages, 1, 0);

	CHECK_EQ(umn_model_fork(model, &child), 0);
	umn_mirror_stats(m, &st);
	CHECK_EQ(st.entries, 0);  /* PROTECTION_PAGE reached the parent's device */

	/* The child sees the parent's values, and writes through its own
	 * device. */
	check_primary(child, addr, data, npages * PAGE);
	cm = mirror_open(child, NULL);
	CHECK_EQ(dev(umn_mirror_write, cm, addr, neg, npages, &cmd), 0);
	CHECK_EQ(cmd.cpages, npages);
	CHECK_EQ(cmd.faults, 1);
	check_primary(child, addr, neg, npages * PAGE);
	check_mirror(cm);

	/* The parent's copy did not change. */
	check_primary(model, addr, data, npages * PAGE);
	CHECK_EQ(dev(umn_mirror_read, m, addr, out, npages, &cmd), 0);
	check_ints(out, npages, 1, 0);
	check_mirror(m);

	umn_mirror_destroy(cm);
	umn_model_destroy(child);
	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(data);
	free(neg);
	free(out);
}

int main(void)
{
	for (int migrate = 0; migrate < 2; migrate++)
		for (int huge = 0; huge < 2; huge++)
			one(migrate, huge);
	printf("1 passed, 0 failed\n");
	return 0;
}
