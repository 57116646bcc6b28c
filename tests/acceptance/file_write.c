/* SPDX-License-Identifier: MIT */
/* file_write: the device writes a shared file mapping; the data is seen
 * through the mapping and through the file. */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	struct umn_model_file *file = umn_model_file_new(NPAGES * PAGE);
	int *data = ints(NPAGES, 1, 0), *out = ints(NPAGES, 0, 0);
	struct umn_mirror_cmd cmd;
	unsigned long addr;

	CHECK(file != NULL);
	CHECK_EQ(umn_model_mmap(model, 0, NPAGES * PAGE, UMN_MODEL_PROT_READ |
				UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_SHARED,
				file, 0, &addr), 0);
	CHECK_EQ(dev(umn_mirror_write, m, addr, data, NPAGES, &cmd), 0);
	CHECK_EQ(cmd.cpages, NPAGES);
	CHECK_EQ(cmd.faults, 1);
	check_primary(model, addr, data, NPAGES * PAGE);
	CHECK_EQ(umn_model_file_read(file, 0, out, NPAGES * PAGE),
		 (long)(NPAGES * PAGE));
	check_ints(out, NPAGES, 1, 0);
	check_mirror(m);

	umn_mirror_destroy(m);
	umn_model_destroy(model);
	umn_model_file_put(file);
	free(data);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
