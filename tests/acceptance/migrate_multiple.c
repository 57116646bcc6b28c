/* SPDX-License-Identifier: MIT */
/* migrate_multiple: to the device and back (CPU faults), NTIMES times. */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	int *data = ints(NPAGES, 1, 0), *out = ints(NPAGES, 0, 0);
	struct umn_mirror_cmd cmd;

	for (int c = 0; c < NTIMES; c++) {
		unsigned long addr = map(model, NPAGES * PAGE,
					 UMN_MODEL_PROT_READ |
					 UMN_MODEL_PROT_WRITE,
					 UMN_MODEL_MAP_PRIVATE);

		CHECK_EQ(umn_model_write(model, addr, data, NPAGES * PAGE), 0);
		CHECK_EQ(dev(umn_mirror_migrate_to_device, m, addr, out, NPAGES,
			     &cmd), 0);
		CHECK_EQ(cmd.cpages, NPAGES);
		check_ints(out, NPAGES, 1, 0);
		CHECK_EQ(umn_model_read(model, addr, out, NPAGES * PAGE), 0);
		check_ints(out, NPAGES, 1, 0);
		check_mirror(m);
		CHECK_EQ(umn_model_munmap(model, addr, NPAGES * PAGE), 0);
		CHECK_EQ(umn_model_frames_in_use(model), 0);
	}
	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(data);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
