/* SPDX-License-Identifier: MIT */
/* migrate_mixed: two devices.  A PROT_NONE or holed range is rejected with
 * EINVAL; zero, read-only and read-write pages move; a page already on the
 * other device gives ENOENT; each device ignores its own MIGRATE. */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *d0 = mirror_open(model, NULL);
	struct umn_mirror *d1 = mirror_open(model, NULL);
	unsigned long p = map(model, 6 * PAGE, UMN_MODEL_PROT_NONE,
			      UMN_MODEL_MAP_PRIVATE);
	int rw = UMN_MODEL_PROT_READ | UMN_MODEL_PROT_WRITE, val = 3, v;
	int *out = ints(6, 0, 0);
	struct umn_mirror_stats s0a, s0b, s1a, s1b;
	struct umn_mirror_cmd cmd;

	CHECK_EQ(dev(umn_mirror_migrate_to_device, d1, p, out, 6, &cmd),
		 -EINVAL);
	CHECK_EQ(umn_model_munmap(model, p + PAGE, PAGE), 0);
	CHECK_EQ(dev(umn_mirror_migrate_to_device, d1, p, out, 3, &cmd),
		 -EINVAL);

	/* Page 2: read-only zero page; page 3: read-only data; 4-5: data. */
	CHECK_EQ(umn_model_mprotect(model, p + 2 * PAGE, PAGE,
				    UMN_MODEL_PROT_READ), 0);
	CHECK_EQ(umn_model_read(model, p + 2 * PAGE, &v, sizeof(v)), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(umn_model_mprotect(model, p + 3 * PAGE, PAGE, rw), 0);
	CHECK_EQ(umn_model_write(model, p + 3 * PAGE, &val, sizeof(val)), 0);
	CHECK_EQ(umn_model_mprotect(model, p + 3 * PAGE, PAGE,
				    UMN_MODEL_PROT_READ), 0);
	CHECK_EQ(umn_model_mprotect(model, p + 4 * PAGE, 2 * PAGE, rw), 0);
	CHECK_EQ(umn_model_write(model, p + 4 * PAGE, &val, sizeof(val)), 0);
	CHECK_EQ(umn_model_write(model, p + 5 * PAGE, &val, sizeof(val)), 0);

	/* Both devices map pages 4-5 first. */
	CHECK_EQ(dev(umn_mirror_read, d0, p + 4 * PAGE, out, 2, &cmd), 0);
	CHECK_EQ(dev(umn_mirror_read, d1, p + 4 * PAGE, out, 2, &cmd), 0);
	umn_mirror_stats(d0, &s0a);
	umn_mirror_stats(d1, &s1a);

	CHECK_EQ(dev(umn_mirror_migrate_to_device, d1, p + 2 * PAGE, out, 4,
		     &cmd), 0);
	CHECK_EQ(cmd.cpages, 4);
	CHECK_EQ(out[0], 0);
	CHECK_EQ(out[PAGE / 4], 3);
	CHECK_EQ(out[2 * PAGE / 4], 3);
	umn_mirror_stats(d0, &s0b);
	umn_mirror_stats(d1, &s1b);
	CHECK(s1b.ignored_own > s1a.ignored_own);       /* its own: ignored */
	CHECK_EQ(s1b.invalidations, s1a.invalidations);
	CHECK(s0b.invalidations > s0a.invalidations);   /* the other: obeyed */
	CHECK(!umn_mirror_has_entry(d0, p + 4 * PAGE));
	check_mirror(d0);
	check_mirror(d1);

	/* Page 5 will not move to device 0: it is on device 1. */
	CHECK_EQ(dev(umn_mirror_migrate_to_device, d0, p + 5 * PAGE, out, 1,
		     &cmd), -ENOENT);
	check_mirror(d0);
	check_mirror(d1);

	umn_mirror_destroy(d0);
	umn_mirror_destroy(d1);
	umn_model_destroy(model);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
