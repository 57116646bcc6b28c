/* SPDX-License-Identifier: MIT */
/*
 * anon_teardown: a second thread unmaps half of the region at a random
 * moment while the device reads it.  The read may fail; if it succeeds every
 * byte is exact, and at no moment does the device hold an entry the primary
 * no longer maps (the device verifies each page it copies against the
 * primary: -EIO is the bug).  Rounds for t_stress_seconds(), at least
 * NTIMES; the seed is printed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include "common.h"

struct unmapper {
	struct umn_model *model;
	unsigned long addr;
	unsigned long delay_ns;
};

static void *unmap_half(void *arg)
{
	struct unmapper *u = arg;
	struct timespec t = { 0, (long)u->delay_ns };

	nanosleep(&t, NULL);
	CHECK_EQ(umn_model_munmap(u->model, u->addr + NPAGES * PAGE / 2,
				  NPAGES * PAGE / 2), 0);
	return NULL;
}

int main(void)
{
	uint64_t seed = t_seed("anon_teardown"), rnd = seed;
	double end = t_now() + t_stress_seconds(3);
	struct umn_model *model = umn_model_new(0);
	struct umn_mirror *m = mirror_open(model, NULL);
	int *out = ints(NPAGES, 0, 0);
	unsigned long rounds = 0, ok = 0;

	umn_mirror_set_fault_delay(m, 20); /* widen the collision window */
	while (rounds < NTIMES || t_now() < end) {
		int c = (int)(rounds % 1000);
		unsigned long addr = map(model, NPAGES * PAGE,
					 UMN_MODEL_PROT_READ |
					 UMN_MODEL_PROT_WRITE,
					 UMN_MODEL_MAP_PRIVATE);
		int *data = ints(NPAGES, 1, c);
		struct unmapper u = { model, addr, t_rand(&rnd) % 2000000 };
		struct umn_mirror_cmd cmd;
		pthread_t thread;
		int ret;

		CHECK_EQ(umn_model_write(model, addr, data, NPAGES * PAGE), 0);
		CHECK_EQ(pthread_create(&thread, NULL, unmap_half, &u), 0);
		ret = dev(umn_mirror_read, m, addr, out, NPAGES, &cmd);
		CHECK(ret != -EIO);
		if (ret == 0) {
			CHECK_EQ(cmd.cpages, NPAGES);
			CHECK_EQ(cmd.faults, 1);
			check_ints(out, NPAGES, 1, c);
			ok++;
		} else {
			CHECK_EQ(ret, -EFAULT);
		}
		pthread_join(thread, NULL);
		check_mirror(m);
		CHECK(!umn_mirror_has_entry(m, addr + NPAGES * PAGE / 2));
		CHECK_EQ(umn_model_munmap(model, addr, NPAGES * PAGE), 0);
		CHECK_EQ(umn_model_frames_in_use(model), 0);
		free(data);
		rounds++;
	}
	printf("# %lu rounds, %lu reads succeeded\n", rounds, ok);
	umn_mirror_destroy(m);
	umn_model_destroy(model);
	free(out);
	printf("1 passed, 0 failed\n");
	return 0;
}
