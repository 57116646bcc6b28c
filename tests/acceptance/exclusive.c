/* SPDX-License-Identifier: MIT */
/*
 * exclusive / exclusive_mprotect / exclusive_cow (argv[1]): the device takes
 * exclusive access (EXCLUSIVE); CPU access, mprotect, or fork COW revokes it.
 */
#include <stdlib.h>
#include <string.h>
#include "common.h"

/* The CPU increments every int, page by page (read, modify, write). */
static void cpu_increment(struct umn_model *model, unsigned long addr,
			  unsigned long npages)
{
	int page[PAGE / sizeof(int)];

	for (unsigned long p = 0; p < npages; p++) {
		CHECK_EQ(umn_model_read(model, addr + p * PAGE, page, PAGE), 0);
		for (unsigned long i = 0; i < PAGE / sizeof(int); i++)
			page[i]++;
		CHECK_EQ(umn_model_write(model, addr + p * PAGE, page, PAGE), 0);
	}
}

int main(int argc, char **argv)
{
	const char *which = argc > 1 ? argv[1] : "exclusive";
	struct umn_model *model = umn_model_new(0), *child;
	struct umn_mirror *m = mirror_open(model, NULL);
	unsigned long addr = map(model, NPAGES * PAGE, UMN_MODEL_PROT_READ |
				 UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	int *data = ints(NPAGES, 1, 0), *out = ints(NPAGES, 0, 0);
	struct umn_mirror_cmd cmd;
	struct umn_model_pfn p;

	CHECK_EQ(umn_model_write(model, addr, data, NPAGES * PAGE), 0);
	CHECK_EQ(dev(umn_mirror_exclusive, m, addr, out, NPAGES, &cmd), 0);
	CHECK_EQ(cmd.cpages, NPAGES);
	check_ints(out, NPAGES, 1, 0);
	CHECK_EQ(dev(umn_mirror_check_exclusive, m, addr, NULL, NPAGES, &cmd),
		 -EPERM);
	umn_model_lookup(model, addr, &p);
	CHECK(p.flags & UMN_MODEL_PFN_EXCLUSIVE);
	check_mirror(m);

	if (!strcmp(which, "exclusive")) {
		cpu_increment(model, addr, NPAGES);   /* revokes */
		CHECK_EQ(umn_model_read(model, addr, out, NPAGES * PAGE), 0);
		check_ints(out, NPAGES, 1, 1);
		CHECK_EQ(dev(umn_mirror_check_exclusive, m, addr, NULL, NPAGES,
			     &cmd), 0);
	} else if (!strcmp(which, "exclusive_mprotect")) {
		CHECK_EQ(umn_model_mprotect(model, addr, NPAGES * PAGE,
					    UMN_MODEL_PROT_READ), 0);
		CHECK_EQ(dev(umn_mirror_check_exclusive, m, addr, NULL, NPAGES,
			     &cmd), 0);
		CHECK_EQ(dev(umn_mirror_write, m, addr, data, NPAGES, &cmd),
			 -EPERM);
	} else if (!strcmp(which, "exclusive_cow")) {
		CHECK_EQ(umn_model_fork(model, &child), 0);
		CHECK_EQ(dev(umn_mirror_check_exclusive, m, addr, NULL, NPAGES,
			     &cmd), 0);
		cpu_increment(child, addr, NPAGES);
		cpu_increment(model, addr, NPAGES);
		int *plus1 = ints(NPAGES, 1, 1);

		check_primary(child, addr, plus1, NPAGES * PAGE);
		free(plus1);
		CHECK_EQ(umn_model_read(model, addr, out, NPAGES * PAGE), 0);
		check_ints(out, NPAGES, 1, 1);
		umn_model_destroy(child);
	} else {
		return 2;
	}
	check_mirror(m);
	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(data);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
