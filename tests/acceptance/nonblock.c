/* SPDX-License-Identifier: MIT */
/*
 * nonblock: an invalidation arrives while the device's own thread holds the
 * device lock (userspace: a free() of a large block under that lock; on the
 * model, the OOM-reaper zap: non-blockable and DEFERRABLE).  The callback's
 * trylock fails, umn defers the range to the device, nothing deadlocks, and
 * the next lookup drops the entries before handing any out: no stale page.
 */
#include <stdlib.h>
#include "common.h"

#define N 64UL

struct zap {
	struct umn_model *model;
	unsigned long addr;
	int ret;
};

static int zap_under_lock(void *arg)
{
	struct zap *z = arg;

	z->ret = umn_model_zap_nonblock(z->model, z->addr, N / 2 * PAGE);
	return 0;
}

int main(void)
{
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	unsigned long p = map(model, N * PAGE, UMN_MODEL_PROT_READ |
			      UMN_MODEL_PROT_WRITE, UMN_MODEL_MAP_PRIVATE);
	int *data = ints(N, 1, 1), *out = ints(N, 0, 0), *expect = ints(N, 1, 1);
	struct umn_mirror_stats st;
	struct umn_mirror_cmd cmd;
	struct zap z = { model, p, -1 };

	for (int round = 0; round < 3; round++) {
		CHECK_EQ(dev(umn_mirror_write, m, p, data, N, &cmd), 0);
		CHECK_EQ(dev(umn_mirror_read, m, p, out, N, &cmd), 0);
		CHECK_EQ(cmd.faults, 0);          /* all mapped */

		umn_mirror_run_locked(m, zap_under_lock, &z);
		CHECK_EQ(z.ret, 0);               /* no deadlock, no failure */
		umn_mirror_stats(m, &st);
		CHECK(st.refused >= (unsigned long)round + 1);

		/* The zapped half reads as zero; the device faulted it anew. */
		CHECK_EQ(dev(umn_mirror_read, m, p, out, N, &cmd), 0);
		CHECK_EQ(cmd.faults, 1);
		for (unsigned long i = 0; i < N / 2 * PAGE / 4; i++)
			expect[i] = 0;
		check_ints(out + N / 2 * PAGE / 4, N / 2, 1,
			   1 + (int)(N / 2 * PAGE / 4));
		check_primary(model, p, out, N * PAGE);
		umn_mirror_stats(m, &st);
		CHECK(st.deferred >= (unsigned long)round + 1);
		check_mirror(m);
	}
	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(data);
	free(out);
	free(expect);
	printf("1 passed, 0 failed\n");
	return 0;
}
