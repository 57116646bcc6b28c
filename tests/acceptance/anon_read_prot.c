/* SPDX-License-Identifier: MIT */
/* anon_read_prot: a PROT_NONE region: the device read fails with EFAULT
 * and writes nothing to the caller's buffer. */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	unsigned long addr = map(model, NPAGES * PAGE, UMN_MODEL_PROT_READ |
				 UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	int *data = ints(NPAGES, 1, 0), *out = ints(NPAGES, -1, 0);
	struct umn_mirror_cmd cmd;

	CHECK_EQ(umn_model_write(model, addr, data, NPAGES * PAGE), 0);
	CHECK_EQ(umn_model_mprotect(model, addr, NPAGES * PAGE,
				    UMN_MODEL_PROT_NONE), 0);
	CHECK_EQ(dev(umn_mirror_read, m, addr, out, NPAGES, &cmd), -EFAULT);
	/* The CPU cannot read it either. */
	CHECK_EQ(umn_model_read(model, addr, data, 4), -EACCES);

	CHECK_EQ(umn_model_mprotect(model, addr, NPAGES * PAGE,
				    UMN_MODEL_PROT_READ), 0);
	CHECK_EQ(umn_model_read(model, addr, data, NPAGES * PAGE), 0);
	check_ints(data, NPAGES, 1, 0);
	check_ints(out, NPAGES, -1, 0);       /* untouched */
	check_mirror(m);

	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(data);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
