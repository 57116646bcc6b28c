/* SPDX-License-Identifier: MIT */
/* anon_read_multiple: a fresh region read by the device, NTIMES times. */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	int *out = ints(NPAGES, 0, 0);
	struct umn_mirror_cmd cmd;

	for (int c = 0; c < NTIMES; c++) {
		unsigned long addr = map(model, NPAGES * PAGE,
					 UMN_MODEL_PROT_READ |
					 UMN_MODEL_PROT_WRITE,
					 UMN_MODEL_MAP_PRIVATE);
		int *data = ints(NPAGES, 1, c);

		CHECK_EQ(umn_model_write(model, addr, data, NPAGES * PAGE), 0);
		CHECK_EQ(dev(umn_mirror_read, m, addr, out, NPAGES, &cmd), 0);
		CHECK_EQ(cmd.cpages, NPAGES);
		CHECK_EQ(cmd.faults, 1);
		check_ints(out, NPAGES, 1, c);
		check_mirror(m);
		CHECK_EQ(umn_model_munmap(model, addr, NPAGES * PAGE), 0);
		CHECK(!umn_mirror_has_entry(m, addr));
		free(data);
	}
	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
