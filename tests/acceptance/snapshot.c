/* SPDX-License-Identifier: MIT */
/* snapshot: per-page state through a temporary subscription per chunk:
 * error (PROT_NONE, hole), zero, read, write, device-local, device-remote,
 * none (nothing mapped). */
#include <stdlib.h>
#include "common.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *d0 = mirror_open(model, NULL);
	struct umn_mirror *d1 = mirror_open(model, NULL);
	unsigned long p = map(model, 8 * PAGE, UMN_MODEL_PROT_NONE,
			      UMN_MODEL_MAP_PRIVATE);
	int rw = UMN_MODEL_PROT_READ | UMN_MODEL_PROT_WRITE, val = 3, v;
	int *out = ints(1, 0, 0);
	unsigned char s[8];
	struct umn_mirror_cmd cmd;

	CHECK_EQ(umn_model_munmap(model, p + PAGE, PAGE), 0);
	CHECK_EQ(umn_model_mprotect(model, p + 2 * PAGE, PAGE,
				    UMN_MODEL_PROT_READ), 0);
	CHECK_EQ(umn_model_read(model, p + 2 * PAGE, &v, sizeof(v)), 0);
	CHECK_EQ(umn_model_mprotect(model, p + 3 * PAGE, PAGE, rw), 0);
	CHECK_EQ(umn_model_write(model, p + 3 * PAGE, &val, sizeof(val)), 0);
	CHECK_EQ(umn_model_mprotect(model, p + 3 * PAGE, PAGE,
				    UMN_MODEL_PROT_READ), 0);
	CHECK_EQ(umn_model_mprotect(model, p + 4 * PAGE, 4 * PAGE, rw), 0);
	CHECK_EQ(umn_model_write(model, p + 4 * PAGE, &val, sizeof(val)), 0);
	CHECK_EQ(dev(umn_mirror_migrate_to_device, d0, p + 5 * PAGE, out, 1,
		     &cmd), 0);
	CHECK_EQ(cmd.cpages, 1);
	CHECK_EQ(dev(umn_mirror_migrate_to_device, d1, p + 6 * PAGE, out, 1,
		     &cmd), 0);
	CHECK_EQ(cmd.cpages, 1);

	CHECK_EQ(dev(umn_mirror_snapshot, d0, p, s, 8, &cmd), 0);
	CHECK_EQ(cmd.cpages, 8);
	CHECK_EQ(s[0], UMN_MIRROR_PROT_ERROR);
	CHECK_EQ(s[1], UMN_MIRROR_PROT_ERROR);
	CHECK_EQ(s[2], UMN_MIRROR_PROT_ZERO | UMN_MIRROR_PROT_READ);
	CHECK_EQ(s[3], UMN_MIRROR_PROT_READ);
	CHECK_EQ(s[4], UMN_MIRROR_PROT_WRITE);
	CHECK_EQ(s[5], UMN_MIRROR_PROT_DEV_LOCAL | UMN_MIRROR_PROT_WRITE);
	CHECK_EQ(s[6], UMN_MIRROR_PROT_DEV_REMOTE);
	CHECK_EQ(s[7], UMN_MIRROR_PROT_NONE);
	/* A snapshot faults nothing in. */
	CHECK_EQ(dev(umn_mirror_snapshot, d0, p, s, 8, &cmd), 0);
	CHECK_EQ(s[7], UMN_MIRROR_PROT_NONE);
	check_mirror(d0);
	check_mirror(d1);

	umn_mirror_destroy(d0);
	umn_mirror_destroy(d1);
	umn_model_destroy(model);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
