/* SPDX-License-Identifier: MIT */
/*
 * anon_read: read private anonymous memory through the device.  The first
 * page is never touched (reads as zero), the second is read by the CPU
 * (maps the zero frame), the rest hold data; the region is read-only.
 */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	unsigned long addr = map(model, NPAGES * PAGE, UMN_MODEL_PROT_READ |
				 UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	int *data = ints(NPAGES, 1, 0), *out = ints(NPAGES, -1, 0), val = 1;
	struct umn_mirror_cmd cmd;
	struct umn_model_pfn p;

	/* Data from page 2 on; pages 0 and 1 stay empty. */
	CHECK_EQ(umn_model_write(model, addr + 2 * PAGE, data + 2 * PAGE / 4,
				 (NPAGES - 2) * PAGE), 0);
	CHECK_EQ(umn_model_mprotect(model, addr, NPAGES * PAGE,
				    UMN_MODEL_PROT_READ), 0);
	/* The CPU reads page 1: the zero frame. */
	CHECK_EQ(umn_model_read(model, addr + PAGE, &val, sizeof(val)), 0);
	CHECK_EQ(val, 0);
	umn_model_lookup(model, addr + PAGE, &p);
	CHECK(p.flags & UMN_MODEL_PFN_ZERO);
	umn_model_lookup(model, addr, &p);
	CHECK_EQ(p.flags, 0);

	CHECK_EQ(dev(umn_mirror_read, m, addr, out, NPAGES, &cmd), 0);
	CHECK_EQ(cmd.cpages, NPAGES);
	CHECK_EQ(cmd.faults, 1);          /* hmm-tests: faults == 1 */
	for (unsigned long i = 0; i < 2 * PAGE / 4; i++)
		CHECK_EQ(out[i], 0);
	for (unsigned long i = 2 * PAGE / 4; i < NPAGES * PAGE / 4; i++)
		CHECK_EQ(out[i], (int)i);
	/* The device's read mapped the untouched page to the zero frame. */
	umn_model_lookup(model, addr, &p);
	CHECK(p.flags & UMN_MODEL_PFN_ZERO);
	check_primary(model, addr, out, NPAGES * PAGE);
	check_mirror(m);

	/* A second read is served from the device's mapping. */
	CHECK_EQ(dev(umn_mirror_read, m, addr, out, NPAGES, &cmd), 0);
	CHECK_EQ(cmd.faults, 0);

	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(data);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
