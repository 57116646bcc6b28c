/* SPDX-License-Identifier: MIT */
/*
 * model_mirror: a model address space (the primary MMU) and a mirror (a
 * secondary MMU) in twenty lines: map, let the device read, unmap, and watch
 * the device's entries go in the invalidate callback.  It links the
 * in-tree mirror (consumers/mirror, not installed): build it in the tree,
 * ./build/examples/model_mirror.
 */
#include <stdio.h>
#include <string.h>
#include <umn/umn.h>
#include "mirror.h"

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *dev = umn_mirror_new(umn_model_mm(model), NULL);
	char msg[UMN_MODEL_PAGE_SIZE] = "hello from the primary", got[sizeof(msg)];
	struct umn_mirror_cmd cmd = { 0 };
	struct umn_mirror_stats st;
	unsigned long addr;

	umn_mirror_add_range(dev, UMN_MODEL_VA_BASE, UMN_MODEL_VA_SIZE);
	umn_model_mmap(model, 0, sizeof(msg), UMN_MODEL_PROT_READ |
		       UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE, NULL, 0, &addr);
	printf("mmap: one page at 0x%lx\n", addr);
	umn_model_write(model, addr, msg, sizeof(msg));

	cmd.addr = addr;
	cmd.ptr = got;
	cmd.npages = 1;
	if (umn_mirror_read(dev, &cmd) == 0)
		printf("mirror read: \"%s\" (%lu page, %lu fault pass)\n", got,
		       cmd.cpages, cmd.faults);
	umn_mirror_stats(dev, &st);
	printf("mirror holds %lu entr%s\n", st.entries,
	       st.entries == 1 ? "y" : "ies");

	umn_model_munmap(model, addr, sizeof(msg));
	umn_mirror_stats(dev, &st);
	printf("munmap: UNMAP invalidation -> callback dropped %lu range, "
	       "mirror holds %lu entries\n", st.invalidations, st.entries);
	printf("mirror read after munmap: %s\n",
	       umn_mirror_read(dev, &cmd) == -EFAULT ? "EFAULT" : "?");

	umn_mirror_destroy(dev);
	umn_model_destroy(model);
	return 0;
}
