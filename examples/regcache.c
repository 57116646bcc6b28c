/* SPDX-License-Identifier: MIT */
/*
 * A registration cache for the calling process, as an RDMA stack keeps one:
 * buffers are "registered" (here pinned with mlock, as ibv_reg_mr pins them)
 * on first use and found again on the next send; freeing or unmapping a
 * buffer invalidates its registration through umn's event sources, so a
 * later buffer at the same address is registered afresh, never served by
 * the stale entry.
 *
 * What to copy: the params (your ops, your per-region struct with struct
 * umn_regcache_region first, limits), get before each use of a buffer and
 * put when the device is done with it (a send completed), the stock mlock
 * ops wrapped by your own reg/dereg, and the stats at exit.
 *
 *   ./regcache          prints what each step did and the cache's stats;
 *                       exits 1 if a stale registration was served
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

/*
 * "Send" len bytes at buf: look its registration up (or make it), use its
 * key, and put it back once the send has completed (here at once; a real
 * stack puts it in its completion handler).  *lkey: the key used.
 */
static int send_buffer(struct umn_regcache *rc, void *buf, size_t len,
		       unsigned int *lkey)
{
	struct umn_regcache_region *r;
	int ret = umn_regcache_get(rc, (unsigned long)buf, len, &r);

	if (ret) {
		fprintf(stderr, "get: %s\n", strerror(-ret));
		return ret;
	}
	*lkey = ((struct my_mr *)r)->lkey;
	printf("  send  %p+%zu with lkey %u\n", buf, len, *lkey);
	umn_regcache_put(rc, r);
	return 0;
}

/* At exit: what the cache did. */
static void print_stats(struct umn_regcache *rc)
{
	struct umn_regcache_stats st;

	if (umn_regcache_stats(rc, &st))
		return;
	printf("stats: %lu hits, %lu misses, %lu invalidated, %lu "
	       "deregistered, %lu regions (%lu bytes) registered, %lu of "
	       "them invalidated and waiting for deregistration\n",
	       st.hits, st.misses, st.invalidated, st.dereg, st.regions,
	       st.bytes, st.pending_dereg);
}

int main(void)
{
	struct umn_regcache_params p = {
		.ops = &my_ops,
		.region_size = sizeof(struct my_mr),
		.max_regions = 64,
	};
	struct umn_regcache *rc;
	struct umn_mm *self = umn_mm_self();
	size_t len = 1 << 20;
	unsigned int key1, key2, key3;
	char *buf;
	int ret;

	if (!self) {	/* no event source: a cache could go stale */
		perror("umn_mm_self");
		return 1;
	}
	rc = umn_regcache_new(self, &p);
	if (!rc) {
		perror("umn_regcache_new");
		return 1;
	}
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	printf("first send: a miss\n");
	if (send_buffer(rc, buf, len, &key1))
		goto skip;
	printf("second send: a hit\n");
	if (send_buffer(rc, buf + 4096, 8192, &key2))
		goto skip;
	printf("munmap and a new mapping at the same address\n");
	munmap(buf, len);
	buf = mmap(buf, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	printf("third send: registered afresh\n");
	if (send_buffer(rc, buf, len, &key3))
		goto skip;
	munmap(buf, len);
	print_stats(rc);
	ret = umn_regcache_destroy(rc);
	if (key2 != key1 || key3 == key1) {
		printf("FAILED: lkeys %u %u %u (want a hit, then a new key)\n",
		       key1, key2, key3);
		return 1;
	}
	return ret ? 1 : 0;
skip:
	printf("mlock refused: raise RLIMIT_MEMLOCK (ulimit -l)\n");
	munmap(buf, len);
	umn_regcache_destroy(rc);
	return 0;
}
