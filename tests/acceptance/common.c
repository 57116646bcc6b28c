/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include "common.h"

struct umn_mirror *mirror_open(struct umn_model *model, void *device)
{
	struct umn_mirror *m = umn_mirror_new(umn_model_mm(model), device);

	CHECK(m != NULL);
	CHECK_EQ(umn_mirror_add_range(m, UMN_MODEL_VA_BASE, UMN_MODEL_VA_SIZE),
		 0);
	return m;
}

unsigned long map(struct umn_model *model, size_t len, int prot, int flags)
{
	unsigned long addr = 0;

	CHECK_EQ(umn_model_mmap(model, 0, len, prot, flags, NULL, 0, &addr), 0);
	return addr;
}

int *ints(unsigned long npages, int sign, int c)
{
	size_t n = npages * PAGE / sizeof(int);
	int *a = malloc(npages * PAGE);

	CHECK(a != NULL);
	for (size_t i = 0; i < n; i++)
		a[i] = (int)i * sign + c;
	return a;
}

void check_primary(struct umn_model *model, unsigned long addr,
		   const void *buf, size_t len)
{
	char *now = malloc(len);

	CHECK(now != NULL);
	CHECK_EQ(umn_model_read(model, addr, now, len), 0);
	CHECK(memcmp(now, buf, len) == 0);
	free(now);
}

void check_ints(const int *buf, unsigned long npages, int sign, int c)
{
	size_t n = npages * PAGE / sizeof(int);

	for (size_t i = 0; i < n; i++)
		if (buf[i] != (int)i * sign + c) {
			CHECK_EQ(buf[i], (int)i * sign + c);
		}
}

void check_mirror(struct umn_mirror *m)
{
	CHECK_EQ(umn_mirror_verify(m), 0);
}

int dev(mirror_op op, struct umn_mirror *m, unsigned long addr, void *ptr,
	unsigned long npages, struct umn_mirror_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->addr = addr;
	cmd->ptr = ptr;
	cmd->npages = npages;
	return op(m, cmd);
}
