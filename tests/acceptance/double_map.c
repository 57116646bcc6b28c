/* SPDX-License-Identifier: MIT */
/* double_map: two devices read one range; pages migrated to one are read by
 * the other (migrated back by its fault); punching a hole invalidates both. */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	unsigned long n = 6;
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *d0 = mirror_open(model, NULL);
	struct umn_mirror *d1 = mirror_open(model, NULL);
	unsigned long p = map(model, n * PAGE, UMN_MODEL_PROT_READ |
			      UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	int *data = ints(n, 1, 0), *out = ints(n, 0, 0);
	struct umn_mirror_cmd cmd;

	CHECK_EQ(umn_model_write(model, p, data, n * PAGE), 0);
	CHECK_EQ(umn_model_mprotect(model, p, n * PAGE, UMN_MODEL_PROT_READ), 0);

	CHECK_EQ(dev(umn_mirror_read, d0, p, out, n, &cmd), 0);
	CHECK_EQ(cmd.cpages, n);
	CHECK_EQ(cmd.faults, 1);
	check_ints(out, n, 1, 0);
	CHECK_EQ(dev(umn_mirror_read, d1, p, out, n, &cmd), 0);
	CHECK_EQ(cmd.cpages, n);
	CHECK_EQ(cmd.faults, 1);
	check_ints(out, n, 1, 0);

	CHECK_EQ(dev(umn_mirror_migrate_to_device, d1, p, out, n, &cmd), 0);
	CHECK_EQ(cmd.cpages, n);
	CHECK(!umn_mirror_has_entry(d0, p));
	CHECK_EQ(dev(umn_mirror_read, d0, p, out, n, &cmd), 0);
	CHECK_EQ(cmd.cpages, n);
	CHECK_EQ(cmd.faults, 1);
	check_ints(out, n, 1, 0);
	check_mirror(d0);
	check_mirror(d1);

	/* Both map everything again, then a hole is punched. */
	CHECK_EQ(dev(umn_mirror_read, d1, p, out, n, &cmd), 0);
	CHECK_EQ(umn_model_munmap(model, p + 2 * PAGE, PAGE), 0);
	CHECK(!umn_mirror_has_entry(d0, p + 2 * PAGE));
	CHECK(!umn_mirror_has_entry(d1, p + 2 * PAGE));
	CHECK(umn_mirror_has_entry(d0, p + 3 * PAGE));
	CHECK_EQ(dev(umn_mirror_read, d0, p, out, n, &cmd), -EFAULT);
	check_mirror(d0);
	check_mirror(d1);

	umn_mirror_destroy(d0);
	umn_mirror_destroy(d1);
	umn_model_destroy(model);
	free(data);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
