/* SPDX-License-Identifier: MIT */
/*
 * A registration cache for the calling process, as an RDMA stack keeps one:
 * buffers are "registered" (here pinned with mlock, as ibv_reg_mr pins them)
 * on first use and found again on the next send; freeing or unmapping a
 * buffer invalidates its registration through umn's event sources, so a
 * later buffer at the same address is registered afresh, never served by
 * the stale entry.
 *
 *   ./regcache          prints what each step did and the cache's stats
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <umn/umn.h>
#include <umn/regcache.h>

/* What a device would keep per registration: its key, in the user data. */
struct my_mr {
	struct umn_regcache_region region;	/* first */
	unsigned int lkey;
};

static unsigned int next_key = 1;

static int my_reg(void *ctx, struct umn_regcache_region *region)
{
	struct my_mr *mr = (struct my_mr *)region;
	int ret = umn_regcache_mlock_ops.reg(ctx, region);

	if (ret)
		return ret;
	mr->lkey = next_key++;
	printf("  reg   [%#lx, +%lu) -> lkey %u\n", region->start, region->len,
	       mr->lkey);
	return 0;
}

static void my_dereg(void *ctx, struct umn_regcache_region *region)
{
	struct my_mr *mr = (struct my_mr *)region;

	printf("  dereg [%#lx, +%lu) lkey %u\n", region->start, region->len,
	       mr->lkey);
	umn_regcache_mlock_ops.dereg(ctx, region);
}

static const struct umn_regcache_ops my_ops = { my_reg, my_dereg };

/* "Send" len bytes at buf: look its registration up (or make it). */
static int send_buffer(struct umn_regcache *rc, void *buf, size_t len)
{
	struct umn_regcache_region *r;
	int ret = umn_regcache_get(rc, (unsigned long)buf, len, &r);

	if (ret) {
		fprintf(stderr, "get: %s\n", strerror(-ret));
		return ret;
	}
	printf("  send  %p+%zu with lkey %u\n", buf, len,
	       ((struct my_mr *)r)->lkey);
	umn_regcache_put(rc, r);
	return 0;
}

int main(void)
{
	struct umn_regcache_params p = {
		.ops = &my_ops,
		.region_size = sizeof(struct my_mr),
		.max_regions = 64,
	};
	struct umn_regcache *rc;
	size_t len = 1 << 20;
	char *buf;
	int ret;

	rc = umn_regcache_new(umn_mm_self(), &p);
	if (!rc) {
		perror("umn_regcache_new");
		return 1;
	}
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	printf("first send: a miss\n");
	if (send_buffer(rc, buf, len))
		goto skip;
	printf("second send: a hit\n");
	send_buffer(rc, buf + 4096, 8192);
	printf("munmap and a new mapping at the same address\n");
	munmap(buf, len);
	buf = mmap(buf, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	printf("third send: registered afresh\n");
	send_buffer(rc, buf, len);
	umn_regcache_dump(rc, stdout);
	munmap(buf, len);
	ret = umn_regcache_destroy(rc);
	return ret ? 1 : 0;
skip:
	printf("mlock refused: raise RLIMIT_MEMLOCK (ulimit -l)\n");
	munmap(buf, len);
	umn_regcache_destroy(rc);
	return 0;
}
