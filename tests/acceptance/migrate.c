/* SPDX-License-Identifier: MIT */
/* migrate: pages moved to device memory (MIGRATE owned by the device, which
 * it ignores) and faulted back by the CPU (MIGRATE the device obeys); a
 * shared region cannot move (ENOENT, as hmm-tests migrate_shared). */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	unsigned long addr = map(model, NPAGES * PAGE, UMN_MODEL_PROT_READ |
				 UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	unsigned long shared = map(model, 16 * PAGE, UMN_MODEL_PROT_READ |
				   UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_SHARED);
	int *data = ints(NPAGES, 1, 0), *out = ints(NPAGES, 0, 0);
	struct umn_mirror_stats before, after;
	struct umn_mirror_cmd cmd;
	struct umn_model_pfn p;

	CHECK_EQ(umn_model_write(model, addr, data, NPAGES * PAGE), 0);
	umn_mirror_stats(m, &before);
	CHECK_EQ(dev(umn_mirror_migrate_to_device, m, addr, out, NPAGES, &cmd),
		 0);
	CHECK_EQ(cmd.cpages, NPAGES);
	check_ints(out, NPAGES, 1, 0);
	umn_mirror_stats(m, &after);
	CHECK(after.ignored_own > before.ignored_own);
	CHECK_EQ(after.invalidations, before.invalidations);
	umn_model_lookup(model, addr, &p);
	CHECK(p.flags & UMN_MODEL_PFN_DEVICE);
	CHECK(p.owner == umn_mirror_device(m));
	check_mirror(m);

	/* The CPU faults them back: the device's entries go. */
	CHECK_EQ(umn_model_read(model, addr, out, NPAGES * PAGE), 0);
	check_ints(out, NPAGES, 1, 0);
	umn_model_lookup(model, addr, &p);
	CHECK(!(p.flags & UMN_MODEL_PFN_DEVICE));
	CHECK(!umn_mirror_has_entry(m, addr));
	check_mirror(m);

	CHECK_EQ(dev(umn_mirror_migrate_to_device, m, shared, out, 16, &cmd),
		 -ENOENT);

	/* And explicitly back to system memory. */
	CHECK_EQ(dev(umn_mirror_migrate_to_device, m, addr, out, NPAGES, &cmd),
		 0);
	CHECK_EQ(dev(umn_mirror_migrate_to_system, m, addr, NULL, NPAGES, &cmd),
		 0);
	CHECK_EQ(cmd.cpages, NPAGES);
	umn_model_lookup(model, addr, &p);
	CHECK(!(p.flags & UMN_MODEL_PFN_DEVICE));
	check_mirror(m);
	check_primary(model, addr, data, NPAGES * PAGE);

	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(data);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
