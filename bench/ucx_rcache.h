/* SPDX-License-Identifier: MIT */
/*
 * The UCX baseline's registration cache, shared by the benchmarks that
 * compare with it: a ucs_rcache (UCX 1.13) with no-op registration, 4 KiB
 * alignment, unlimited size, fed by UCM's VM_UNMAPPED events.  Static
 * inline, so only the benchmarks that include it (and link -lucs -lucm)
 * carry it.  Include only when BENCH_HAVE_UCX.
 */
#ifndef UMN_BENCH_UCX_RCACHE_H
#define UMN_BENCH_UCX_RCACHE_H

#include <ucm/api/ucm.h>
#include <ucs/memory/rcache.h>

static inline ucs_status_t bench_ucx_reg(void *ctx, ucs_rcache_t *rc,
					 void *arg, ucs_rcache_region_t *region,
					 uint16_t flags)
{
	(void)ctx; (void)rc; (void)arg; (void)region; (void)flags;
	return UCS_OK;
}

static inline void bench_ucx_dereg(void *ctx, ucs_rcache_t *rc,
				   ucs_rcache_region_t *region)
{
	(void)ctx; (void)rc; (void)region;
}

static inline void bench_ucx_dump(void *ctx, ucs_rcache_t *rc,
				  ucs_rcache_region_t *region, char *buf,
				  size_t max)
{
	(void)ctx; (void)rc; (void)region;
	if (max)
		buf[0] = 0;
}

/* A new ucs_rcache with the caller's ops (which must outlive it), or NULL. */
static inline ucs_rcache_t *bench_ucx_rcache_new_ops(const ucs_rcache_ops_t *ops)
{
	ucs_rcache_params_t p = {
		.region_struct_size = sizeof(ucs_rcache_region_t),
		.alignment = 4096,
		.max_alignment = 4096,
		.ucm_events = UCM_EVENT_VM_UNMAPPED,
		.ucm_event_priority = 1000,
		.ops = ops,
		.context = NULL,
		.flags = UCS_RCACHE_FLAG_NO_PFN_CHECK,
		.max_regions = (unsigned long)-1,
		.max_size = (size_t)-1,
		.max_unreleased = (size_t)-1,
	};
	ucs_rcache_t *rc = NULL;

	return ucs_rcache_create(&p, "bench", NULL, &rc) == UCS_OK ? rc : NULL;
}

/* A new ucs_rcache with dummy registration, or NULL. */
static inline ucs_rcache_t *bench_ucx_rcache_new(void)
{
	static const ucs_rcache_ops_t ops = {
		.mem_reg = bench_ucx_reg, .mem_dereg = bench_ucx_dereg,
		.dump_region = bench_ucx_dump,
	};

	return bench_ucx_rcache_new_ops(&ops);
}

#endif /* UMN_BENCH_UCX_RCACHE_H */
