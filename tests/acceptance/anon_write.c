/* SPDX-License-Identifier: MIT */
/* anon_write: device writes become visible to the CPU side. */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	unsigned long addr = map(model, NPAGES * PAGE, UMN_MODEL_PROT_READ |
				 UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	int *data = ints(NPAGES, 1, 0);
	struct umn_mirror_cmd cmd;

	CHECK_EQ(dev(umn_mirror_write, m, addr, data, NPAGES, &cmd), 0);
	CHECK_EQ(cmd.cpages, NPAGES);
	CHECK_EQ(cmd.faults, 1);
	check_primary(model, addr, data, NPAGES * PAGE);
	check_mirror(m);

	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(data);
	printf("1 passed, 0 failed\n");
	return 0;
}
