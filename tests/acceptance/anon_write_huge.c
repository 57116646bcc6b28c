/* SPDX-License-Identifier: MIT */
/* anon_write_huge: a 2 MiB page region written by the device (one fault
 * pass); the snapshot reports every page as part of a huge entry. */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	unsigned long npages = UMN_MODEL_HUGE_PAGES;
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	unsigned long addr = map(model, 2 * UMN_MODEL_HUGE_SIZE,
				 UMN_MODEL_PROT_READ | UMN_MODEL_PROT_WRITE,
				 UMN_MODEL_MAP_PRIVATE | UMN_MODEL_MAP_HUGE);
	int *data = ints(npages, 1, 0);
	unsigned char snap[UMN_MODEL_HUGE_PAGES];
	struct umn_mirror_cmd cmd;

	CHECK_EQ(addr % UMN_MODEL_HUGE_SIZE, 0);
	CHECK_EQ(dev(umn_mirror_write, m, addr, data, npages, &cmd), 0);
	CHECK_EQ(cmd.cpages, npages);
	CHECK_EQ(cmd.faults, 1);
	check_primary(model, addr, data, npages * PAGE);
	check_mirror(m);

	CHECK_EQ(dev(umn_mirror_snapshot, m, addr, snap, npages, &cmd), 0);
	CHECK_EQ(cmd.cpages, npages);
	for (unsigned long i = 0; i < npages; i++)
		CHECK_EQ(snap[i], UMN_MIRROR_PROT_WRITE | UMN_MIRROR_PROT_HUGE);
	CHECK_EQ(umn_model_mprotect(model, addr, UMN_MODEL_HUGE_SIZE,
				    UMN_MODEL_PROT_READ), 0);
	CHECK_EQ(dev(umn_mirror_snapshot, m, addr, snap, npages, &cmd), 0);
	for (unsigned long i = 0; i < npages; i++)
		CHECK_EQ(snap[i], UMN_MIRROR_PROT_READ | UMN_MIRROR_PROT_HUGE);
	/* Half a huge page cannot be unmapped. */
	CHECK_EQ(umn_model_munmap(model, addr, PAGE), -EINVAL);
	CHECK_EQ(umn_model_munmap(model, addr, UMN_MODEL_HUGE_SIZE), 0);
	CHECK(!umn_mirror_has_entry(m, addr));
	check_mirror(m);

	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(data);
	printf("1 passed, 0 failed\n");
	return 0;
}
