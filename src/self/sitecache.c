/* SPDX-License-Identifier: MIT */
/*
 * The site cache (sitecache.h): one small file per object under
 * $XDG_CACHE_HOME/umn (else ~/.cache/umn), named after the object file's
 * device and inode, holding discovery's results for that object.
 *
 * Why.  Starting umn in a process decodes libc and every other object
 * (loading the decoder first); each process started by a shell or make
 * paid several ms for it (doc/sources.md, "Cost on real programs").
 * Objects rarely change between processes: the next one reads a file.
 *
 * Trust.  An entry is only a list of candidate sites: discover.c checks
 * the bytes of each against memory before patching it, and the whole entry
 * is for one identity (file identity, the loaded image's build-id and
 * program headers, umn's own build, discovery's mode).  A file that does
 * not parse, has a wrong checksum or another identity is ignored.  The
 * directory must belong to the user and not be writable by others (a
 * forged entry could otherwise name a byte of data that looks like a site);
 * programs run with AT_SECURE (set-user-ID, set-group-ID, file
 * capabilities) do not use the cache at all.
 *
 * Concurrency.  Writers write a temporary file of their own (pid, tid and
 * a counter in its name, O_EXCL) and rename it over the entry: readers see
 * an old or a new entry whole, never a mix; the last writer wins.
 *
 * Format (native byte order, this machine only): "UMNSITE1", the fixed part
 * of struct umnp_sc_entry, nsites sites, a 64-bit FNV-1a of all that.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "decoder.h"
#include "self_internal.h"
#include "sitecache.h"

#if defined(__x86_64__)

/* Bounds: an entry of more sites is not written; this many files or more in
 * the directory and the directory is emptied before the next write. */
#define UMNP_SC_MAX_FILES 512

static const char sc_magic[8] = "UMNSITE1";

static bool sc_on;
static bool sc_debug;
static uint32_t sc_mode;
static uint64_t sc_umn_build;
static char sc_dir[512];
static unsigned long sc_seq;
/* One file in memory at a time: callers hold the discovery lock. */
static uint8_t sc_buf[8 + sizeof(struct umnp_sc_entry) + 8];

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV0 0xcbf29ce484222325ull

static void say(const char *what, const char *detail)
{
	if (sc_debug)
		fprintf(stderr, "umn: site cache: %s%s%s\n", what,
			detail ? ": " : "", detail ? detail : "");
}

/* The build-id note of a loaded image, hashed; 0 if it has none. */
static uint64_t build_id_hash(const struct dl_phdr_info *info)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			size_t nsz = (nh->n_namesz + 3) & ~3u;
			size_t dsz = (nh->n_descsz + 3) & ~3u;
			const uint8_t *name = p + sizeof(*nh);

			if (name + nsz + dsz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID &&
			    nh->n_namesz == 4 && !memcmp(name, "GNU", 4))
				return fnv(FNV0, name + nsz, nh->n_descsz) | 1;
			p = name + nsz + dsz;
		}
	}
	return 0;
}

static int find_self(struct dl_phdr_info *info, size_t size, void *data)
{
	uintptr_t a = (uintptr_t)umnp_self_cache_setup;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && a >= s && a < s + ph->p_memsz) {
			uint64_t h = build_id_hash(info);

			/* No build-id: umn's code itself stands for it. */
			if (!h)
				h = fnv(FNV0, (const void *)s, ph->p_memsz);
			*(uint64_t *)data = h;
			return 1;
		}
	}
	return 0;
}

/* The directory exists (made if not), is ours, and only we may write it. */
static bool dir_ok(const char *dir)
{
	struct stat st;
	long r = umnp_self_raw3(SYS_stat, (long)dir, (long)&st, 0);

	/* Made once: later processes only stat it (one system call, not a
	 * mkdir of it and of its parent each time). */
	if (r == -ENOENT) {
		/* the base directory too, as the XDG specification asks */
		char base[sizeof(sc_dir)];
		char *slash;

		memcpy(base, dir, strlen(dir) + 1);
		slash = strrchr(base, '/');
		if (slash && slash != base) {
			*slash = 0;
			(void)umnp_self_raw3(SYS_mkdir, (long)base, 0700, 0);
		}
		r = umnp_self_raw3(SYS_mkdir, (long)dir, 0700, 0);
		if (umnp_self_is_err(r) && r != -EEXIST) {
			say("not used: cannot make the directory", dir);
			return false;
		}
		r = umnp_self_raw3(SYS_stat, (long)dir, (long)&st, 0);
	}
	if (umnp_self_is_err(r) || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 0022)) {
		say("not used: not a directory of this user that only it may "
		    "write", dir);
		return false;
	}
	return true;
}

void umnp_self_cache_setup(uint32_t mode, bool debug)
{
	const char *v = getenv("UMN_SELF_CACHE");
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;

	sc_debug = debug;
	sc_mode = mode;
	sc_on = false;
	if (v && !strcmp(v, "0"))
		return;
	if (getauxval(AT_SECURE)) {
		say("not used in a set-user-ID program", NULL);
		return;
	}
	if (xdg && xdg[0] == '/') {
		n = snprintf(sc_dir, sizeof(sc_dir), "%s", xdg);
	} else if (home && home[0] == '/') {
		n = snprintf(sc_dir, sizeof(sc_dir), "%s/.cache", home);
	} else {
		say("not used: neither XDG_CACHE_HOME nor HOME is set", NULL);
		return;
	}
	if (n <= 0 || (size_t)n + 48 >= sizeof(sc_dir))
		return;
	memcpy(sc_dir + n, "/umn", 5);
	if (!dir_ok(sc_dir))
		return;
	sc_umn_build = 0;
	dl_iterate_phdr(find_self, &sc_umn_build);
	/* Entries are per decoder: another one may decode differently, and
	 * one that cannot be loaded must still be tried. */
	v = umnp_self_decoder_name();
	sc_umn_build = fnv(sc_umn_build, v, strlen(v));
	sc_on = true;
}

bool umnp_self_cache_ident(const struct dl_phdr_info *info, const char *path,
			   struct umnp_sc_id *id)
{
	struct stat st;
	long r;

	if (!sc_on)
		return false;
	r = umnp_self_raw3(SYS_stat, (long)path, (long)&st, 0);
	if (umnp_self_is_err(r) || !S_ISREG(st.st_mode))
		return false;
	memset(id, 0, sizeof(*id));
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = (uint64_t)st.st_size;
	id->mtime_s = (uint64_t)st.st_mtim.tv_sec;
	id->mtime_ns = (uint64_t)st.st_mtim.tv_nsec;
	id->phdr_hash = fnv(FNV0, info->dlpi_phdr,
			    info->dlpi_phnum * sizeof(ElfW(Phdr)));
	id->build_id = build_id_hash(info);
	id->umn_build = sc_umn_build;
	id->mode = sc_mode;
	return true;
}

static void entry_path(char *out, size_t n, const struct umnp_sc_id *id)
{
	uint64_t h = fnv(fnv(FNV0, &id->dev, 8), &id->ino, 8);

	snprintf(out, n, "%s/%016llx.sites", sc_dir, (unsigned long long)h);
}

static size_t entry_fixed(void)
{
	return offsetof(struct umnp_sc_entry, site);
}

/* The length of the file whose first `got` bytes are in sc_buf, as its
 * header says; SIZE_MAX while the header is not all there, or is bad (the
 * reader then reads on to the end of the file, and checks). */
static size_t entry_len(size_t got)
{
	uint32_t nsites;

	if (got < 8 + entry_fixed())
		return SIZE_MAX;
	memcpy(&nsites, sc_buf + 8 + offsetof(struct umnp_sc_entry, nsites),
	       sizeof(nsites));
	if (nsites > UMNP_SC_MAX_SITES)
		return SIZE_MAX;
	return 8 + entry_fixed() + nsites * sizeof(struct umnp_sc_site) + 8;
}

bool umnp_self_cache_load(const struct umnp_sc_id *id,
			  struct umnp_sc_entry *e)
{
	char path[sizeof(sc_dir) + 32];
	size_t got = 0, want;
	uint64_t sum;
	long fd, r;

	if (!sc_on)
		return false;
	entry_path(path, sizeof(path), id);
	fd = umnp_self_raw3(SYS_open, (long)path,
			    O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (umnp_self_is_err(fd))
		return false;
	for (;;) {
		r = umnp_self_raw3(SYS_read, fd, (long)(sc_buf + got),
				   (long)(sizeof(sc_buf) - got));
		if (r == -EINTR)
			continue;
		if (umnp_self_is_err(r) || r == 0)
			break;
		got += (size_t)r;
		if (got == sizeof(sc_buf) || got >= entry_len(got))
			break;	/* whole: no read to see the end of file */
	}
	umnp_self_raw3(SYS_close, fd, 0, 0);
	want = 8 + entry_fixed();
	if (got < want + 8 || memcmp(sc_buf, sc_magic, 8)) {
		say("entry ignored (not an entry: short or bad magic)", path);
		return false;
	}
	memcpy(e, sc_buf + 8, entry_fixed());
	if (e->nsites > UMNP_SC_MAX_SITES ||
	    got != want + e->nsites * sizeof(struct umnp_sc_site) + 8) {
		say("entry ignored (bad length)", path);
		return false;
	}
	want += e->nsites * sizeof(struct umnp_sc_site);
	memcpy(&sum, sc_buf + want, 8);
	if (sum != fnv(FNV0, sc_buf, want)) {
		say("entry ignored (bad checksum)", path);
		return false;
	}
	if (memcmp(&e->id, id, sizeof(*id))) {
		say("entry ignored (another version of the object)", path);
		return false;
	}
	memcpy(e->site, sc_buf + 8 + entry_fixed(),
	       e->nsites * sizeof(struct umnp_sc_site));
	return true;
}

/* Too many entries (objects that came and went): remove them all. */
static void bound_dir(void)
{
	char buf[4096];
	char path[sizeof(sc_dir) + 300];
	unsigned int count = 0;
	long fd, r;
	bool wipe = false;

	fd = umnp_self_raw3(SYS_open, (long)sc_dir,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (umnp_self_is_err(fd))
		return;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			if (count < UMNP_SC_MAX_FILES)
				break;
			wipe = true;
			umnp_self_raw3(SYS_lseek, fd, 0, SEEK_SET);
		}
		while ((r = umnp_self_raw3(SYS_getdents64, fd, (long)buf,
					   sizeof(buf))) > 0) {
			for (long off = 0; off < r;) {
				struct dirent64 *d =
					(struct dirent64 *)(buf + off);
				size_t l = strlen(d->d_name);

				off += d->d_reclen;
				if ((l < 6 || strcmp(d->d_name + l - 6, ".sites")) &&
				    (l < 4 || strcmp(d->d_name + l - 4, ".tmp")))
					continue;
				if (!wipe) {
					count++;
					continue;
				}
				snprintf(path, sizeof(path), "%s/%s", sc_dir,
					 d->d_name);
				umnp_self_raw3(SYS_unlink, (long)path, 0, 0);
			}
		}
	}
	umnp_self_raw3(SYS_close, fd, 0, 0);
	if (wipe)
		say("more than UMNP_SC_MAX_FILES entries: emptied", sc_dir);
}

void umnp_self_cache_store(const struct umnp_sc_entry *e)
{
	char path[sizeof(sc_dir) + 32], tmp[sizeof(sc_dir) + 96];
	size_t len;
	uint64_t sum;
	long fd, r;

	if (!sc_on || e->nsites > UMNP_SC_MAX_SITES)
		return;
	bound_dir();
	memcpy(sc_buf, sc_magic, 8);
	memcpy(sc_buf + 8, e, entry_fixed() +
	       e->nsites * sizeof(struct umnp_sc_site));
	len = 8 + entry_fixed() + e->nsites * sizeof(struct umnp_sc_site);
	sum = fnv(FNV0, sc_buf, len);
	memcpy(sc_buf + len, &sum, 8);
	len += 8;
	entry_path(path, sizeof(path), &e->id);
	snprintf(tmp, sizeof(tmp), "%s.%ld.%ld.%lu.tmp", path,
		 umnp_self_raw3(SYS_getpid, 0, 0, 0),
		 umnp_self_raw3(SYS_gettid, 0, 0, 0), sc_seq++);
	fd = umnp_self_raw3(SYS_open, (long)tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
				    O_NOFOLLOW,
			    0600);
	if (umnp_self_is_err(fd)) {
		say("entry not written", tmp);
		return;
	}
	for (size_t done = 0; done < len;) {
		r = umnp_self_raw3(SYS_write, fd, (long)(sc_buf + done),
				   (long)(len - done));
		if (r == -EINTR)
			continue;
		if (umnp_self_is_err(r) || r == 0) {
			umnp_self_raw3(SYS_close, fd, 0, 0);
			umnp_self_raw3(SYS_unlink, (long)tmp, 0, 0);
			say("entry not written", tmp);
			return;
		}
		done += (size_t)r;
	}
	umnp_self_raw3(SYS_close, fd, 0, 0);
	r = umnp_self_raw3(SYS_rename, (long)tmp, (long)path, 0);
	if (umnp_self_is_err(r))
		umnp_self_raw3(SYS_unlink, (long)tmp, 0, 0);
}

#endif /* __x86_64__ */
