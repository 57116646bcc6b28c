/* SPDX-License-Identifier: MIT */
/*
 * The site cache (sitecache.c): what discovery found in an object, kept in
 * a file per object so that the next process that loads the same object
 * patches the same sites without decoding it (nor loading the decoder).
 *
 * An entry is used only when the object's identity matches (the file's
 * st_dev, st_ino, st_size, st_mtime, the build-id note of the loaded image,
 * a hash of its program headers, discovery's mode and umn's own build) and
 * then only site by site: discover.c compares the bytes stored for each site
 * with the bytes in memory before patching it, and decodes the whole object
 * instead on any difference.  Callers hold the discovery lock; no malloc
 * (raw system calls, static buffers).
 */
#ifndef UMN_SRC_SELF_SITECACHE_H
#define UMN_SRC_SELF_SITECACHE_H

#include <link.h>
#include <stdbool.h>
#include <stdint.h>

#define UMNP_SC_MAX_SITES 1024

enum umnp_sc_kind {
	UMNP_SC_FOUND = 1,  /* a site discovery found (scan_object) */
	UMNP_SC_TARGET = 2, /* a libc wrapper's site (patch.c's targets) */
};

struct umnp_sc_site {
	uint32_t off;      /* from the object's load bias */
	uint32_t func_off; /* the function decoded (a wrapper's entry) */
	int16_t nr;        /* -1: syscall()'s `mov 0x8(%rsp),%r9` */
	uint8_t len;       /* of the instruction replaced: 5 or 7 */
	uint8_t kind;      /* enum umnp_sc_kind */
	uint8_t bytes[16]; /* its bytes before patching, then `0f 05` */
};

struct umnp_sc_id {
	uint64_t dev, ino, size, mtime_s, mtime_ns;
	uint64_t phdr_hash;  /* the loaded program headers */
	uint64_t build_id;   /* a hash of the loaded image's build-id, 0 */
	uint64_t umn_build;  /* umn's own object (format and algorithm) */
	uint32_t mode;       /* discovery's mode (UMN_SELF_DEBUG counts) */
	uint32_t pad;
};

struct umnp_sc_entry {
	struct umnp_sc_id id;
	uint32_t held, unknown, undecodable; /* discover.c's counts */
	uint32_t nsites;
	struct umnp_sc_site site[UMNP_SC_MAX_SITES];
};

/*
 * Read the environment once, at init: UMN_SELF_CACHE=0 disables the cache;
 * the directory is $XDG_CACHE_HOME/umn, else $HOME/.cache/umn.  Also off
 * in a set-user-ID or set-group-ID program (AT_SECURE), and when the
 * directory is not the user's own or others may write to it.  debug: say
 * why on stderr.  Normal context, discovery lock held.
 */
void umnp_self_cache_setup(uint32_t mode, bool debug);

/* The identity of a loaded object (file named path, as dl_iterate_phdr
 * gives it).  false if the cache is off or the file cannot be stat'ed. */
bool umnp_self_cache_ident(const struct dl_phdr_info *info, const char *path,
			   struct umnp_sc_id *id);

/* Read the entry of id into e: true if there is one, whole (checksum) and
 * for this very identity.  A damaged file is ignored (a message with
 * debug) and will be replaced. */
bool umnp_self_cache_load(const struct umnp_sc_id *id,
			  struct umnp_sc_entry *e);

/* Write e (its id set by umnp_self_cache_ident) atomically: a temporary
 * file renamed over the entry, so a reader sees the old or the new one
 * whole.  Errors are ignored (a cache).  Bounded: at most
 * UMNP_SC_MAX_FILES entries in the directory (beyond, the entries are
 * removed first). */
void umnp_self_cache_store(const struct umnp_sc_entry *e);

#endif /* UMN_SRC_SELF_SITECACHE_H */
