/* SPDX-License-Identifier: MIT */
/*
 * Internal: the registration cache's group block (src/regcache/regcache.c,
 * "groups"): regions of one aligned block of 2^RC_BLOCK_SHIFT bytes share
 * one interval subscription.  Shared with the white-box tests.
 */
#ifndef UMN_SRC_REGCACHE_BLOCK_H
#define UMN_SRC_REGCACHE_BLOCK_H

#ifndef RC_BLOCK_SHIFT
#define RC_BLOCK_SHIFT 18	/* 256 KiB: see doc/regcache.md */
#endif

#endif /* UMN_SRC_REGCACHE_BLOCK_H */
