/* SPDX-License-Identifier: MIT */
/* file_read: a shared read-only file mapping read by the device; the bytes
 * equal the file's contents, through the mapping and through the file. */
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
	CHECK_EQ(umn_model_file_write(file, 0, data, NPAGES * PAGE),
		 (long)(NPAGES * PAGE));
	CHECK_EQ(umn_model_mmap(model, 0, NPAGES * PAGE, UMN_MODEL_PROT_READ,
				UMN_MODEL_MAP_SHARED, file, 0, &addr), 0);
	CHECK_EQ(dev(umn_mirror_read, m, addr, out, NPAGES, &cmd), 0);
	CHECK_EQ(cmd.cpages, NPAGES);
	CHECK_EQ(cmd.faults, 1);
	check_ints(out, NPAGES, 1, 0);
	check_primary(model, addr, out, NPAGES * PAGE);
	check_mirror(m);

	umn_mirror_destroy(m);
	umn_model_destroy(model);
	umn_model_file_put(file);
	free(data);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
