/* SPDX-License-Identifier: MIT */
/* anon_write_child_shared: as anon_write_child on a shared region: the
 * parent sees the child's device writes (no COW). */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0), *child;
	unsigned long addr = map(model, NPAGES * PAGE, UMN_MODEL_PROT_READ |
				 UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_SHARED);
	int *data = ints(NPAGES, 1, 0), *neg = ints(NPAGES, -1, 0);
	struct umn_mirror *cm;
	struct umn_mirror_cmd cmd;

	CHECK_EQ(umn_model_write(model, addr, data, NPAGES * PAGE), 0);
	CHECK_EQ(umn_model_fork(model, &child), 0);
	check_primary(child, addr, data, NPAGES * PAGE);

	cm = mirror_open(child, NULL);
	CHECK_EQ(dev(umn_mirror_write, cm, addr, neg, NPAGES, &cmd), 0);
	CHECK_EQ(cmd.cpages, NPAGES);
	CHECK_EQ(cmd.faults, 1);
	check_primary(child, addr, neg, NPAGES * PAGE);
	check_primary(model, addr, neg, NPAGES * PAGE); /* shared */
	check_mirror(cm);

	umn_mirror_destroy(cm);
	umn_model_destroy(child);
	umn_model_destroy(model);
	free(data);
	free(neg);
	printf("1 passed, 0 failed\n");
	return 0;
}
