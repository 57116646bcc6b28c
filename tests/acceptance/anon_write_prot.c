/* SPDX-License-Identifier: MIT */
/* anon_write_prot: a read-only region: the device write fails with EPERM
 * and memory is unchanged; after mprotect(READ|WRITE) (PROTECTION_VMA) the
 * write succeeds, replacing the zero frame. */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	unsigned long addr = map(model, NPAGES * PAGE, UMN_MODEL_PROT_READ,
				 UMN_MODEL_MAP_PRIVATE);
	int *data = ints(NPAGES, 1, 0), *zero = ints(NPAGES, 0, 0);
	struct umn_mirror_cmd cmd;
	struct umn_mirror_stats st;

	/* The device reads a zero page. */
	CHECK_EQ(dev(umn_mirror_read, m, addr, zero, 1, &cmd), 0);
	CHECK_EQ(cmd.cpages, 1);
	CHECK_EQ(cmd.faults, 1);

	CHECK_EQ(dev(umn_mirror_write, m, addr, data, NPAGES, &cmd), -EPERM);
	check_primary(model, addr, zero, NPAGES * PAGE);

	CHECK_EQ(umn_model_mprotect(model, addr, NPAGES * PAGE,
				    UMN_MODEL_PROT_READ | UMN_MODEL_PROT_WRITE), 0);
	umn_mirror_stats(m, &st);
	CHECK_EQ(st.entries, 0);          /* PROTECTION_VMA dropped it */
	CHECK_EQ(dev(umn_mirror_write, m, addr, data, NPAGES, &cmd), 0);
	CHECK_EQ(cmd.cpages, NPAGES);
	CHECK_EQ(cmd.faults, 1);
	check_primary(model, addr, data, NPAGES * PAGE);
	check_mirror(m);

	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(data);
	free(zero);
	printf("1 passed, 0 failed\n");
	return 0;
}
