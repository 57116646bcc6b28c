/* SPDX-License-Identifier: MIT */
/*
 * Site discovery: every system-call site with a fixed, map-changing number
 * in every loaded object (the executable, every library, the dynamic
 * loader; at init and after every dlopen), patched with the engine of
 * patch.c so it enters the hooks.  libc's wrappers are only some of the
 * sites: the Go runtime, static runtimes, custom allocators and libraries
 * loaded later issue `mov $NR,%eax; syscall` themselves.
 *
 * Instructions, not bytes.  Code is decoded (decoder.h: Zydis in
 * libumn.so, Capstone in libumn.a; see README's dependency table) from
 * function starts only, never from an arbitrary byte:
 *   - symbols of type FUNC/IFUNC from the object's file on disk (.symtab,
 *     then .dynsym), each with its size, when the file's program headers
 *     match the loaded image;
 *   - the FDEs of .eh_frame (through PT_GNU_EH_FRAME's sorted table), each
 *     giving a function's start and length, also for stripped objects.
 * A function is decoded from its start to its end (a symbol's or FDE's
 * length; without one, up to the next known start).  Functions whose bytes
 * contain no candidate (a `0f 05` pair right after the bytes of a
 * map-changing mov) are not decoded, and the others only up to their last
 * candidate: a filter only, what is patched is decided on decoded
 * instructions.  self.discover_same checks that the filter finds what
 * decoding every function whole finds (UMN_SELF_DISCOVER_FULL=1).  A site is an instruction `mov
 * $NR,%eax` (b8, 5 bytes) or `mov $NR,%rax` (48 c7 c0, 7 bytes) directly
 * followed by the instruction `syscall`, with NR one of munmap, mremap,
 * madvise, process_madvise, mmap, mprotect, pkey_mprotect, brk, shmat,
 * shmdt, remap_file_pages.  The mov is replaced by a jump (patch.c): one
 * instruction, so no thread can be inside the patched bytes.  Data in a
 * text segment is never decoded as code unless a symbol or an FDE says it
 * is a function.
 *
 * Not patched, and counted per object (UMN_SELF_DEBUG=1, umn selftest):
 *   - "held": a `syscall` whose number was set by a `mov` to eax that is
 *     not the instruction right before it (arguments set in between: the
 *     stub could not run the hook with them);
 *   - "unknown": a `syscall` whose number is in a register (syscall(),
 *     Go's syscall.Syscall) -- the safety net's case;
 *   - "undecodable": a function the decoder gave up on.
 * Objects skipped: the vDSO, umn's own shared object (it has no fixed
 * site: see umnp_self_rawsys), umn's decoder (libZydis or libcapstone: no
 * system call of its own), sanitizer runtimes (their internal system
 * calls run where the hooks cannot), functions whose entry another patcher
 * has overwritten.
 *
 * When.  At init every object is scanned.  Later the dynamic loader's own
 * mmap and mprotect sites (in ld.so, found the same way) call
 * umnp_self_discover_rescan() after each call; it compares
 * dl_iterate_phdr's dlpi_adds/dlpi_subs with the last scan and scans the
 * objects not seen yet.  An object is complete in the loader's list before
 * the loader protects its RELRO (after relocation, before its constructors
 * run), so its sites are patched before any of its code runs.  An object
 * without PT_GNU_RELRO is scanned at the loader's next mmap/mprotect.
 *
 * Context.  No malloc: the decoder's state is made at init (decoder.h:
 * decoding allocates nothing); scratch memory is mapped with raw
 * system calls, and unmapped through the hooks so that the unmap is
 * reported like any other.  A rescan runs on the thread of a dlopen,
 * holding the loader's (recursive) locks, never inside a hook.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <umn/notifier.h>
#include "decoder.h"
#include "self_internal.h"
#include "sitecache.h"

#if defined(__x86_64__)

#define MAX_OBJECTS 1024
#define MAX_STATS 256

struct fn {
	uintptr_t start;
	uintptr_t end;  /* 0: unknown */
	uintptr_t next; /* end 0: the next function's start, 0 if none */
	bool skip;
};

struct fnvec {
	struct fn *v;
	size_t n, cap;
	bool failed; /* out of memory: some function left out */
};

struct obj_stat {
	char name[64];
	unsigned int patched, failed, held, unknown, undecodable;
};

static pthread_mutex_t discover_mutex = PTHREAD_MUTEX_INITIALIZER;
static bool decoder_ready;
static int decoder_err;          /* the first failure, kept */
static char decoder_why[160];
static bool discovery_on; /* init scanned everything: rescans may run */
static bool debug_on;     /* UMN_SELF_DEBUG: decode every `syscall` */
/*
 * Test only (tests/self/sites_same.sh): UMN_SELF_DISCOVER_FULL=1 decodes
 * every known function from its start to its end, without the byte
 * prefilter, and UMN_SELF_DISCOVER_DUMP=1 prints each site found, so that
 * the two can be compared.
 */
static bool full_decode, dump_sites;

static struct {
	uintptr_t addr;
	const void *phdr;
} scanned[MAX_OBJECTS], seen[MAX_OBJECTS];
static size_t nscanned, nseen;
static unsigned long long last_adds = ~0ull, last_subs = ~0ull;
static uintptr_t self_base; /* umn's own shared object, 0 if none */

static struct obj_stat stats[MAX_STATS];
static unsigned int nstats;

/*
 * The site cache (sitecache.h).  sc_hit: the entry of the object last
 * looked up (sc_cur, below; patch.c's targets and the scan of the same
 * object share it); sc_hit_stale: a target was not in it, so the scan
 * decodes that object again and rewrites its entry.  sc_new: the
 * entry a full scan builds.  tfound: the sites umnp_self_find_sites()
 * decoded, with their bytes from before they were patched, for the entry
 * of the object that holds them.
 */
static bool env_read;
static struct umnp_sc_entry sc_new;
/*
 * Two entries held: the one patch.c's targets read (libc's, slot 0) stays
 * until the scan reaches libc, after the executable and the preloaded
 * objects (slot 1): libc's entry is read once per process, not twice.
 */
struct sc_slot {
	struct umnp_sc_entry e;
	struct umnp_sc_id id;  /* the object's identity, for a new entry */
	uintptr_t addr;        /* the object: load bias and program headers */
	const void *phdr;
	bool valid;            /* this slot describes addr/phdr */
	bool id_ok;            /* id is set (the cache is on, stat worked) */
	bool ok;               /* e is the object's entry, read whole */
	bool stale;            /* a target was not in it: decode the object */
};
static struct sc_slot sc_slots[2];
static struct sc_slot *sc_cur = &sc_slots[1]; /* the object last looked up */
#define sc_hit (sc_cur->e)
#define sc_hit_stale (sc_cur->stale)
static struct {
	uintptr_t at, func;
	int16_t nr;
	uint8_t len;
	uint8_t bytes[16];
} tfound[32];
static unsigned int ntfound;
/* discovery needed the decoder and could not load it */
static bool decoder_missed;

/* Set while this thread holds discover_mutex: the loader's patched mmap
 * under a dlopen made by discovery itself (the decoder, loaded the first
 * time an object is not in the site cache) must not rescan, which would
 * take the lock this thread already holds. */
static UMNP_SELF_TLS bool discover_owner;

void umnp_self_discover_lock(void)
{
	pthread_mutex_lock(&discover_mutex);
	discover_owner = true;
}

bool umnp_self_discover_trylock(void)
{
	if (pthread_mutex_trylock(&discover_mutex))
		return false;
	discover_owner = true;
	return true;
}

/* A site the safety net learned of while the lock was held elsewhere
 * (sud.c) is patched by the holder on its way out. */
void umnp_self_discover_unlock(void)
{
	if (__atomic_load_n(&umnp_self_sud_pending, __ATOMIC_ACQUIRE) &&
	    !umnp_self_in_hook())
		umnp_self_sud_drain_locked();
	discover_owner = false;
	pthread_mutex_unlock(&discover_mutex);
}

/* Load the decoder (the first time only; decoder.h).  Normal context,
 * discovery lock held. */
static int decoder_init(void)
{
	if (decoder_ready)
		return 0;
	if (decoder_err)
		return decoder_err;
	decoder_err = umnp_self_decoder_load(decoder_why, sizeof(decoder_why));
	if (decoder_err)
		return decoder_err;
	decoder_ready = true;
	return 0;
}

const char *umnp_self_decoder_status(void)
{
	return decoder_ready ? NULL : decoder_err ? decoder_why
						   : "not loaded yet";
}

static bool nr_map_changing(long nr)
{
	switch (nr) {
	case SYS_munmap: case SYS_mremap: case SYS_madvise:
	case SYS_process_madvise: case SYS_mmap: case SYS_mprotect:
	case SYS_pkey_mprotect: case SYS_brk: case SYS_shmat: case SYS_shmdt:
	case SYS_remap_file_pages:
		return true;
	default:
		return false;
	}
}

/* `mov $imm,%eax` or `mov $imm,%rax` (sign-extended imm32): the number. */
static long mov_eax_imm(const uint8_t *p, size_t len)
{
	int32_t imm;

	if (len == 5 && p[0] == 0xb8) {
		memcpy(&imm, p + 1, 4);
		return (long)(uint32_t)imm;
	}
	if (len == 7 && p[0] == 0x48 && p[1] == 0xc7 && p[2] == 0xc0) {
		memcpy(&imm, p + 3, 4);
		return imm;
	}
	return -1;
}

static bool is_r9_load(const uint8_t *p, size_t len)
{
	static const uint8_t r9load[5] = { 0x4c, 0x8b, 0x4c, 0x24, 0x08 };

	return len == 5 && memcmp(p, r9load, 5) == 0;
}

struct found {
	uint8_t *at;
	uint8_t len;
	long nr;
};

/*
 * Decode [p, p + size) from p.  Fills up to max sites (mov directly before
 * syscall, for a map-changing number or for `want`, a number a patch
 * target asks for such as rt_sigaction; want_r9: syscall()'s
 * `mov 0x8(%rsp),%r9` with nr -1 too).
 * Returns the number found, or -1 if the decoder gave up.
 */
static int decode_region(const uint8_t *p, size_t size, struct found *out,
			 int max, bool want_r9, long want, struct obj_stat *st)
{
	const uint8_t *at = p;
	size_t left = size;
	const uint8_t *prev = NULL;
	size_t prev_len = 0;
	int n = 0, since_mov = 100;
	long pending = -1;

	while (left) {
		size_t len = umnp_self_decode_len(at, left);
		long nr;

		if (!len)
			/* near the end: an instruction cut by the region's
			 * bound (a `0f 05` inside an immediate), not bad code */
			return n || left < 15 ? n : -1;
		if (len == 2 && at[0] == 0x0f && at[1] == 0x05) {
			nr = prev ? mov_eax_imm(prev, prev_len) : -1;
			if (nr >= 0 && (nr_map_changing(nr) || nr == want) &&
			    n < max) {
				out[n].at = (uint8_t *)prev;
				out[n].len = (uint8_t)prev_len;
				out[n].nr = nr;
				n++;
			} else if (want_r9 && prev &&
				   is_r9_load(prev, prev_len) && n < max) {
				out[n].at = (uint8_t *)prev;
				out[n].len = 5;
				out[n].nr = -1;
				n++;
			} else if (nr < 0 && st) {
				if (since_mov < 8 && nr_map_changing(pending))
					st->held++;
				else if (!(prev && prev[0] == 0xe9))
					st->unknown++;
			}
		}
		nr = mov_eax_imm(at, len);
		if (nr >= 0) {
			pending = nr;
			since_mov = 0;
		} else {
			since_mov++;
		}
		prev = at;
		prev_len = len;
		at += len;
		left -= len;
	}
	return n;
}

static void discover_env(void);
static bool cache_entry_for(const struct dl_phdr_info *info, bool for_target);
static uintptr_t exec_seg_end(const struct dl_phdr_info *info, uintptr_t a);
static bool entry_patched(const uint8_t *f);

struct target_q {
	const uint8_t *func;
	long nr;
	uint8_t **out;
	uint8_t *lens;
	int max, k;
	bool object_hit;
};

/* The sites of a libc wrapper from its object's cache entry, each checked
 * against the bytes in memory. */
static int target_from_cache(struct dl_phdr_info *info, size_t size,
			     void *data)
{
	struct target_q *q = data;
	uintptr_t f = (uintptr_t)q->func;
	bool inside = false;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum && !inside; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		inside = ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
			 f >= s && f < s + ph->p_filesz;
	}
	if (!inside)
		return 0;
	if (!cache_entry_for(info, true))
		return 1;
	q->object_hit = true;
	for (uint32_t i = 0; i < sc_hit.nsites && q->k < q->max; i++) {
		const struct umnp_sc_site *cs = &sc_hit.site[i];
		const uint8_t *at = (const uint8_t *)(info->dlpi_addr + cs->off);

		uintptr_t seg = exec_seg_end(info, (uintptr_t)at);

		if (cs->kind != UMNP_SC_TARGET || cs->nr != q->nr ||
		    info->dlpi_addr + cs->func_off != f || !seg ||
		    seg < (uintptr_t)at + cs->len + 2u ||
		    memcmp(at, cs->bytes, cs->len + 2u))
			continue;
		/* another patcher's jump at the entry: decode (and chain) */
		if (entry_patched(q->func)) {
			q->k = 0;
			break;
		}
		q->out[q->k] = (uint8_t *)at;
		q->lens[q->k] = cs->len;
		q->k++;
	}
	return 1;
}

int umnp_self_find_sites_cached(const uint8_t *func, long nr, uint8_t **out,
				uint8_t *lens, int max)
{
	struct target_q q = { func, nr, out, lens, max, 0, false };

	discover_env();
	dl_iterate_phdr(target_from_cache, &q);
	/* Not in the entry: the caller decodes (umnp_self_find_sites), and
	 * the scan decodes the object again and rewrites its entry. */
	if (!q.k && q.object_hit)
		sc_hit_stale = true;
	return q.k;
}

int umnp_self_find_sites(const uint8_t *func, size_t size, long nr,
			 uint8_t **out, uint8_t *lens, int max)
{
	struct found f[8];
	int n, k = 0;

	discover_env();
	if (decoder_init())
		return 0;
	n = decode_region(func, size, f, 8, nr < 0, nr, NULL);
	for (int i = 0; i < n && k < max; i++) {
		if (f[i].nr != nr)
			continue;
		out[k] = f[i].at;
		lens[k] = f[i].len;
		if (ntfound < sizeof(tfound) / sizeof(tfound[0])) {
			tfound[ntfound].at = (uintptr_t)f[i].at;
			tfound[ntfound].func = (uintptr_t)func;
			tfound[ntfound].nr = (int16_t)nr;
			tfound[ntfound].len = f[i].len;
			memcpy(tfound[ntfound].bytes, f[i].at, f[i].len + 2u);
			ntfound++;
		}
		k++;
	}
	return k;
}

/*
 * The safety net learned of a map-changing `syscall` at insn (sud.c): is
 * the instruction right before it, decoding from start, a `mov $nr,%eax`
 * or `mov $nr,%rax`?  Then *len is its length and it is returned.  NULL
 * if the decoder is not ready (never loaded here: async context), if the
 * decoding from start does not land on insn, or the shape differs.
 * Discovery lock held.
 */
uint8_t *umnp_self_find_site_before(const uint8_t *start, const uint8_t *insn,
				    long nr, uint8_t *len)
{
	struct found f[16];
	int n;

	if (!decoder_ready || insn < start || insn - start > (64 << 10))
		return NULL;
	/* each candidate up to insn; the last one found must be ours */
	n = decode_region(start, (size_t)(insn + 2 - start), f, 16, false, nr,
			  NULL);
	for (int i = 0; i < n; i++)
		if (f[i].at + f[i].len == insn && f[i].nr == nr) {
			*len = f[i].len;
			return f[i].at;
		}
	return NULL;
}

uint8_t *umnp_self_find_syscall_ret(const uint8_t *func, size_t size)
{
	const uint8_t *at = func;
	size_t left = size;
	const uint8_t *prev = NULL;
	size_t len;

	if (decoder_init())
		return NULL;
	while (left && (len = umnp_self_decode_len(at, left))) {
		if (prev && len == 1 && at[0] == 0xc3)
			return (uint8_t *)prev;
		prev = len == 2 && at[0] == 0x0f && at[1] == 0x05 ? at : NULL;
		at += len;
		left -= len;
	}
	return NULL;
}

/* ---- scratch memory (never malloc) -------------------------------------- */

static void *scratch_map(size_t len)
{
	long r = umnp_self_raw6(SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return umnp_self_is_err(r) ? NULL : (void *)r;
}

/* Through the hooks: our unmap is reported (and audited) like any other. */
static void scratch_unmap(void *p, size_t len)
{
	const long a[6] = { (long)p, (long)len, 0, 0, 0, 0 };

	if (p)
		(void)umnp_self_call(UMN_ORIGIN_PATCH, SYS_munmap, a, NULL, NULL);
}

static bool fn_push(struct fnvec *v, uintptr_t start, uintptr_t end,
		    bool skip)
{
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 4096;
		struct fn *nv = scratch_map(ncap * sizeof(*nv));

		if (!nv) {
			v->failed = true;
			return false;
		}
		if (v->v)
			memcpy(nv, v->v, v->n * sizeof(*nv));
		scratch_unmap(v->v, v->cap * sizeof(*nv));
		v->v = nv;
		v->cap = ncap;
	}
	v->v[v->n].start = start;
	v->v[v->n].end = end;
	v->v[v->n].next = 0;
	v->v[v->n].skip = skip;
	v->n++;
	return true;
}

static bool fn_less(const struct fn *a, const struct fn *b)
{
	return a->start < b->start;
}

/* In-place heap sort (qsort may allocate). */
static void fn_sort(struct fn *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;) {
		for (size_t r = i;;) {
			size_t c = 2 * r + 1;
			struct fn t;

			if (c >= n)
				break;
			if (c + 1 < n && fn_less(&v[c], &v[c + 1]))
				c++;
			if (!fn_less(&v[r], &v[c]))
				break;
			t = v[r]; v[r] = v[c]; v[c] = t;
			r = c;
		}
	}
	for (size_t end = n; end-- > 1;) {
		struct fn t = v[0];

		v[0] = v[end];
		v[end] = t;
		for (size_t r = 0;;) {
			size_t c = 2 * r + 1;

			if (c >= end)
				break;
			if (c + 1 < end && fn_less(&v[c], &v[c + 1]))
				c++;
			if (!fn_less(&v[r], &v[c]))
				break;
			t = v[r]; v[r] = v[c]; v[c] = t;
			r = c;
		}
	}
}

/* ---- function starts: symbols from the file ------------------------------ */

static bool name_is_sanitizer(const char *s)
{
	/* every prefix below starts with "__": most names have none */
	s = strstr(s, "__");
	return s && (strstr(s, "__asan") || strstr(s, "__tsan") ||
	       strstr(s, "__lsan") || strstr(s, "__ubsan") ||
	       strstr(s, "__msan") || strstr(s, "__sanitizer") ||
	       strstr(s, "__interception") || strstr(s, "__interceptor"));
}

/* The file's PT_LOAD headers are those of the loaded image. */
static bool same_image(const uint8_t *map, size_t size,
		       const struct dl_phdr_info *info)
{
	const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)map;
	const ElfW(Phdr) *fph;

	if (eh->e_phoff + (size_t)eh->e_phnum * sizeof(ElfW(Phdr)) > size ||
	    eh->e_phnum != info->dlpi_phnum)
		return false;
	fph = (const ElfW(Phdr) *)(map + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++)
		if (fph[i].p_type != info->dlpi_phdr[i].p_type ||
		    fph[i].p_vaddr != info->dlpi_phdr[i].p_vaddr ||
		    fph[i].p_memsz != info->dlpi_phdr[i].p_memsz)
			return false;
	return true;
}

/*
 * Map the ELF file at path read-only with raw system calls (no malloc) and
 * check that its header and section table lie inside it.  Returns the map
 * and its size, or NULL.  Unmap with scratch_unmap(map, *size).
 */
static const uint8_t *elf_map(const char *path, size_t *size)
{
	long fd = umnp_self_raw3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0);
	const ElfW(Ehdr) *eh;
	struct stat stb;
	long r;

	if (umnp_self_is_err(fd))
		return NULL;
	r = umnp_self_raw3(SYS_fstat, fd, (long)&stb, 0);
	if (umnp_self_is_err(r) || stb.st_size < (off_t)sizeof(ElfW(Ehdr))) {
		umnp_self_raw3(SYS_close, fd, 0, 0);
		return NULL;
	}
	r = umnp_self_raw6(SYS_mmap, 0, stb.st_size, PROT_READ, MAP_PRIVATE,
			   fd, 0);
	umnp_self_raw3(SYS_close, fd, 0, 0);
	if (umnp_self_is_err(r))
		return NULL;
	*size = (size_t)stb.st_size;
	eh = (const ElfW(Ehdr) *)r;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(ElfW(Shdr)) ||
	    eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) > *size) {
		scratch_unmap((void *)r, *size);
		return NULL;
	}
	return (const uint8_t *)r;
}

/*
 * Call fn(arg, sym, name) for every defined function symbol (STT_FUNC, and
 * STT_GNU_IFUNC if ifunc) of the .symtab sections of a file mapped by
 * elf_map(), and of its .dynsym sections if dynsym.  name is NULL when the
 * string table does not hold it.  Stops, returning false, when fn does.
 */
static bool elf_each_func(const uint8_t *map, size_t size, bool dynsym,
			  bool ifunc,
			  bool (*fn)(void *arg, const ElfW(Sym) *sym,
				     const char *name),
			  void *arg)
{
	const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)map;
	const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(map + eh->e_shoff);

	for (int i = 0; i < eh->e_shnum; i++) {
		const ElfW(Shdr) *strh;
		const ElfW(Sym) *sym;
		const char *str;
		size_t nsym;

		if (sh[i].sh_type != SHT_SYMTAB &&
		    !(dynsym && sh[i].sh_type == SHT_DYNSYM))
			continue;
		if (sh[i].sh_link >= eh->e_shnum)
			continue;
		strh = &sh[sh[i].sh_link];
		if (sh[i].sh_offset + sh[i].sh_size > size ||
		    strh->sh_offset + strh->sh_size > size)
			continue;
		sym = (const ElfW(Sym) *)(map + sh[i].sh_offset);
		nsym = sh[i].sh_size / sizeof(ElfW(Sym));
		str = (const char *)(map + strh->sh_offset);
		for (size_t k = 0; k < nsym; k++) {
			unsigned int type = ELF64_ST_TYPE(sym[k].st_info);
			const char *name = NULL;

			if ((type != STT_FUNC &&
			     !(ifunc && type == STT_GNU_IFUNC)) ||
			    sym[k].st_shndx == SHN_UNDEF)
				continue;
			if (sym[k].st_name < strh->sh_size &&
			    memchr(str + sym[k].st_name, 0,
				   strh->sh_size - sym[k].st_name))
				name = str + sym[k].st_name;
			if (!fn(arg, &sym[k], name))
				return false;
		}
	}
	return true;
}

struct file_syms {
	const struct dl_phdr_info *info;
	struct fnvec *v;
};

static bool add_file_symbol(void *arg, const ElfW(Sym) *sym, const char *name)
{
	struct file_syms *fs = arg;
	uintptr_t s;

	if (!sym->st_value)
		return true;
	s = fs->info->dlpi_addr + sym->st_value;
	return fn_push(fs->v, s, sym->st_size ? s + sym->st_size : 0,
		       name && name_is_sanitizer(name));
}

/* false if the file could not be read (a reason of the moment, maybe:
 * then the result is not cached). */
static bool add_file_symbols(const struct dl_phdr_info *info,
			     struct fnvec *v)
{
	const char *path = info->dlpi_name && info->dlpi_name[0]
				   ? info->dlpi_name : "/proc/self/exe";
	struct file_syms fs = { info, v };
	const uint8_t *map;
	size_t size;

	map = elf_map(path, &size);
	if (!map)
		return false;
	if (same_image(map, size, info))
		elf_each_func(map, size, true, true, add_file_symbol, &fs);
	scratch_unmap((void *)map, size);
	return true;
}

struct exe_syms {
	const char *const *names;
	void **out;
	int n;
	uintptr_t bias;
};

static bool find_exe_symbol(void *arg, const ElfW(Sym) *sym, const char *name)
{
	struct exe_syms *es = arg;

	if (!name)
		return true;
	for (int j = 0; j < es->n; j++)
		if (!es->out[j] && strcmp(name, es->names[j]) == 0)
			es->out[j] = (void *)(es->bias + sym->st_value);
	return true;
}

/*
 * A static program: look up libc's internal entry points (__munmap, __brk,
 * ...) by name in the executable's own .symtab, where the link put them.
 * Fills out[i] (NULL when absent).  Normal context.
 */
void umnp_self_exe_symbols(const char *const names[], void *out[], int n)
{
	struct exe_syms es = { names, out, n, 0 };
	const uint8_t *map;
	size_t size;

	for (int i = 0; i < n; i++)
		out[i] = NULL;
	map = elf_map("/proc/self/exe", &size);
	if (!map)
		return;
	if (((const ElfW(Ehdr) *)map)->e_type == ET_DYN) /* static-pie */
		es.bias = (uintptr_t)getauxval(AT_PHDR) -
			  ((const ElfW(Ehdr) *)map)->e_phoff;
	elf_each_func(map, size, false, false, find_exe_symbol, &es);
	scratch_unmap((void *)map, size);
}

/* ---- function starts: .eh_frame FDEs -------------------------------------- */

static uint64_t uleb(const uint8_t **pp, const uint8_t *end)
{
	uint64_t v = 0;
	unsigned int shift = 0;

	while (*pp < end) {
		uint8_t b = *(*pp)++;

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	return v;
}

/* Size of a DW_EH_PE value of encoding enc, 0 if unsupported. */
static size_t enc_size(uint8_t enc)
{
	switch (enc & 0x0f) {
	case 0x00: case 0x04: case 0x0c: return 8;
	case 0x02: case 0x0a: return 2;
	case 0x03: case 0x0b: return 4;
	default: return 0;
	}
}

static uint64_t read_enc(const uint8_t *p, uint8_t enc)
{
	switch (enc & 0x0f) {
	case 0x02: { uint16_t v; memcpy(&v, p, 2); return v; }
	case 0x0a: { int16_t v; memcpy(&v, p, 2); return (uint64_t)(int64_t)v; }
	case 0x03: { uint32_t v; memcpy(&v, p, 4); return v; }
	case 0x0b: { int32_t v; memcpy(&v, p, 4); return (uint64_t)(int64_t)v; }
	default: { uint64_t v; memcpy(&v, p, 8); return v; }
	}
}

/* The pointer encoding of FDEs under this CIE ('R'), or 0xff. */
static uint8_t cie_fde_enc(const uint8_t *cie)
{
	uint32_t len;
	const uint8_t *p, *end;
	const char *aug;
	uint8_t version;

	memcpy(&len, cie, 4);
	if (len == 0 || len == 0xffffffffu)
		return 0xff;
	end = cie + 4 + len;
	p = cie + 8; /* length, CIE id */
	version = *p++;
	aug = (const char *)p;
	p += strnlen(aug, (size_t)(end - p)) + 1;
	if (aug[0] != 'z')
		return aug[0] ? 0xff : 0x00;
	(void)uleb(&p, end);           /* code alignment */
	(void)uleb(&p, end);           /* data alignment (sleb: skipped) */
	if (version == 1)
		p++;                   /* return register */
	else
		(void)uleb(&p, end);
	(void)uleb(&p, end);           /* augmentation length */
	for (const char *a = aug + 1; *a && p < end; a++) {
		if (*a == 'R')
			return *p;
		if (*a == 'L') {
			p++;
		} else if (*a == 'P') {
			size_t s = enc_size(*p);

			if (!s || (*p & 0x70) == 0x50)
				return 0xff;
			p += 1 + s;
		} else if (*a != 'S' && *a != 'B') {
			return 0xff;
		}
	}
	return 0x00;
}

/* The length of the function an FDE describes, 0 if unknown. */
static uintptr_t fde_range(const uint8_t *fde)
{
	uint32_t len;
	int32_t cie_off;
	uint8_t enc;
	size_t s;
	uint64_t range;

	memcpy(&len, fde, 4);
	if (len == 0 || len == 0xffffffffu)
		return 0;
	memcpy(&cie_off, fde + 4, 4);
	if (cie_off <= 0)
		return 0;
	enc = cie_fde_enc(fde + 4 - cie_off);
	s = enc == 0xff ? 0 : enc_size(enc);
	if (!s || 8 + 2 * s > (size_t)len + 4)
		return 0;
	range = read_enc(fde + 8 + s, (uint8_t)(enc & 0x0f));
	return range < (16u << 20) ? (uintptr_t)range : 0;
}

static void add_eh_frame(const struct dl_phdr_info *info, struct fnvec *v)
{
	const uint8_t *hdr = NULL, *p;
	uint32_t count;
	size_t s;

	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
			hdr = (const uint8_t *)(info->dlpi_addr +
						info->dlpi_phdr[i].p_vaddr);
	/* version 1; the table must be datarel sdata4 pairs */
	if (!hdr || hdr[0] != 1 || hdr[3] != 0x3b)
		return;
	s = enc_size(hdr[1]);
	if (!s || (hdr[2] & 0x0f) != 0x03)
		return;
	p = hdr + 4 + s;
	memcpy(&count, p, 4);
	p += 4;
	for (uint32_t i = 0; i < count; i++, p += 8) {
		int32_t loc, off;
		uintptr_t start, range;

		memcpy(&loc, p, 4);
		memcpy(&off, p + 4, 4);
		start = (uintptr_t)(hdr + loc);
		range = fde_range(hdr + off);
		if (!fn_push(v, start, range ? start + range : 0, false))
			return;
	}
}

/* umnp_self_fde_func's search: the object whose executable segment holds
 * a, and in its PT_GNU_EH_FRAME table the last start <= a. */
struct fde_query {
	uintptr_t a, start, len;
};

static int fde_func_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct fde_query *q = arg;
	const uint8_t *hdr = NULL, *tab;
	uint32_t count, lo = 0, hi;
	size_t s;

	(void)size;
	if (!exec_seg_end(info, q->a))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
			hdr = (const uint8_t *)(info->dlpi_addr +
						info->dlpi_phdr[i].p_vaddr);
	if (!hdr || hdr[0] != 1 || hdr[3] != 0x3b ||
	    !(s = enc_size(hdr[1])) || (hdr[2] & 0x0f) != 0x03)
		return 1;
	memcpy(&count, hdr + 4 + s, 4);
	tab = hdr + 8 + s;
	hi = count;
	while (lo < hi) { /* the first entry whose start is > a */
		uint32_t mid = lo + (hi - lo) / 2;
		int32_t loc;

		memcpy(&loc, tab + 8 * (size_t)mid, 4);
		if ((uintptr_t)(hdr + loc) <= q->a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo) {
		int32_t loc, off;
		uintptr_t range;

		memcpy(&loc, tab + 8 * (size_t)(lo - 1), 4);
		memcpy(&off, tab + 8 * (size_t)(lo - 1) + 4, 4);
		range = fde_range(hdr + off);
		if ((uintptr_t)(hdr + loc) + range > q->a) {
			q->start = (uintptr_t)(hdr + loc);
			q->len = range;
		}
	}
	return 1;
}

size_t umnp_self_fde_func(const void *a, uint8_t **start)
{
	struct fde_query q = { .a = (uintptr_t)a };

	dl_iterate_phdr(fde_func_cb, &q);
	*start = (uint8_t *)q.start;
	return q.len;
}

/* ---- scanning an object ----------------------------------------------------- */

/* Inside an executable PT_LOAD of the object: that segment's end, else 0. */
static uintptr_t exec_seg_end(const struct dl_phdr_info *info, uintptr_t a)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && a >= s &&
		    a < s + ph->p_filesz)
			return s + ph->p_filesz;
	}
	return 0;
}

/* Another patcher's jump over this entry: its tail is not code to decode. */
static bool entry_patched(const uint8_t *f)
{
	static const uint8_t endbr[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

	if (memcmp(f, endbr, 4) == 0)
		f += 4;
	return (f[0] == 0x49 && f[1] == 0xbb) || (f[0] == 0x48 && f[1] == 0xb8) ||
	       (f[0] == 0xff && f[1] == 0x25);
}

static struct obj_stat *stat_for(const char *name)
{
	struct obj_stat *st = &stats[nstats++ % MAX_STATS];
	const char *base = strrchr(name, '/');

	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s",
		 *name ? (base ? base + 1 : name) : "(executable)");
	return st;
}

/*
 * Candidate `syscall` positions of the object's executable segments, in
 * address order: a `0f 05` pair, preceded (unless every site is to be
 * counted, debug) by the bytes of `mov $NR,%eax` / `mov $NR,%rax` with a
 * map-changing NR.  A filter only: which function to decode, and how far.
 */
struct cands {
	uintptr_t *v;
	size_t n, cap;
	bool failed; /* out of memory: some candidate left out */
};

static bool cand_push(struct cands *c, uintptr_t a)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 1024;
		uintptr_t *nv = scratch_map(ncap * sizeof(*nv));

		if (!nv) {
			c->failed = true;
			return false;
		}
		if (c->v)
			memcpy(nv, c->v, c->n * sizeof(*nv));
		scratch_unmap(c->v, c->cap * sizeof(*nv));
		c->v = nv;
		c->cap = ncap;
	}
	c->v[c->n++] = a;
	return true;
}

static void find_candidates(const struct dl_phdr_info *info, bool all,
			    struct cands *c)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *s, *p, *e;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		s = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		e = s + ph->p_filesz;
		/*
		 * Search the second byte: 05 is about 8 times rarer than 0f
		 * (the first byte of every two-byte opcode) in libc's text,
		 * so memchr stops 8 times less often.  Same pairs found.
		 */
		for (const uint8_t *q = s + 1; q < e; q++) {
			q = memchr(q, 0x05, (size_t)(e - q));
			if (!q)
				break;
			if (q[-1] != 0x0f)
				continue;
			p = q - 1;
			if (!all &&
			    !(p - s >= 5 && mov_eax_imm(p - 5, 5) >= 0 &&
			      nr_map_changing(mov_eax_imm(p - 5, 5))) &&
			    !(p - s >= 7 && mov_eax_imm(p - 7, 7) >= 0 &&
			      nr_map_changing(mov_eax_imm(p - 7, 7))))
				continue;
			if (!cand_push(c, (uintptr_t)p))
				return;
		}
	}
}

/* The last candidate in [start, end), or 0. */
static uintptr_t last_cand(const struct cands *c, uintptr_t start,
			   uintptr_t end)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) { /* first >= end */
		size_t mid = (lo + hi) / 2;

		if (c->v[mid] < end)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && c->v[lo - 1] >= start ? c->v[lo - 1] : 0;
}

/*
 * Drop the functions discovery would not decode, before sorting (sorting
 * the thousands of symbols and FDEs of libc cost more than the rest of a
 * scan): keep a function if its known range holds a candidate, if its end
 * is unknown, or if it is to be skipped (a group of entries with the same
 * start is skipped if any is).  A function of unknown end is decoded up to
 * the next start among all functions, so that start is found here first
 * (fn.next).  The result decodes exactly what sorting everything did; with
 * many functions of unknown end, everything is kept and sorted instead.
 */
static void keep_candidate_functions(struct fnvec *v, const struct cands *c)
{
	size_t n = 0, unknown = 0;

	for (size_t i = 0; i < v->n; i++)
		if (!v->v[i].end && ++unknown > 32)
			return;
	for (size_t i = 0; i < v->n; i++) {
		struct fn f = v->v[i];

		if (!f.end) {
			for (size_t k = 0; k < v->n; k++)
				if (v->v[k].start > f.start &&
				    (!f.next || v->v[k].start < f.next))
					f.next = v->v[k].start;
		} else if (!f.skip && !last_cand(c, f.start, f.end)) {
			continue;
		}
		v->v[n++] = f;
	}
	v->n = n;
}

/* ---- the site cache (sitecache.h) ------------------------------------ */

static const char *object_path(const struct dl_phdr_info *info)
{
	return info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name
						     : "/proc/self/exe";
}

/*
 * Look the object up in the cache (once per object: patch.c's targets and
 * the scan ask for the same one in turn; for_target: a target asks, slot
 * 0 is used, else slot 1).  true if its entry is in sc_hit and no target
 * found it wanting.  sc_cur: the object's slot, with its identity for
 * writing a new entry.
 */
static bool cache_entry_for(const struct dl_phdr_info *info, bool for_target)
{
	struct sc_slot *sl = NULL;

	for (int i = 0; i < 2 && !sl; i++)
		if (sc_slots[i].valid && sc_slots[i].addr == info->dlpi_addr &&
		    sc_slots[i].phdr == info->dlpi_phdr)
			sl = &sc_slots[i];
	if (!sl) {
		sl = &sc_slots[for_target ? 0 : 1];
		sl->valid = true;
		sl->addr = info->dlpi_addr;
		sl->phdr = info->dlpi_phdr;
		sl->stale = false;
		sl->id_ok = !full_decode &&
			    umnp_self_cache_ident(info, object_path(info),
						  &sl->id);
		sl->ok = sl->id_ok && umnp_self_cache_load(&sl->id, &sl->e);
	}
	sc_cur = sl;
	return sl->ok && !sl->stale;
}

/* The entries held are no longer current (an object was decoded, or
 * another may come to the same address later). */
static void sc_forget(void)
{
	sc_slots[0].valid = false;
	sc_slots[1].valid = false;
}

static void site_found(const struct obj_stat *st,
		       const struct dl_phdr_info *info, const uint8_t *at,
		       long nr, unsigned int len)
{
	if (dump_sites)
		fprintf(stderr, "umn: site %s+%#lx nr %ld len %u\n", st->name,
			(unsigned long)((uintptr_t)at - info->dlpi_addr), nr,
			len);
}

static void patch_found(struct obj_stat *st, uint8_t *at, long nr,
			unsigned int len, bool is_loader)
{
	unsigned int flags = 0;

	if (is_loader && (nr == SYS_mmap || nr == SYS_mprotect))
		flags |= UMNP_SITE_LOADER;
	if (umnp_self_patch_site(at, len, flags) == 0)
		st->patched++;
	else
		st->failed++;
}

/*
 * Patch the object's sites from its cache entry, if every one of them is
 * still what the entry says (a libc wrapper's site may be patched already,
 * by patch.c, just before).  false, having patched nothing, on the first
 * difference: the caller decodes the object.
 */
static bool scan_from_cache(const struct dl_phdr_info *info,
			    struct obj_stat *st, bool is_loader)
{
	for (uint32_t i = 0; i < sc_hit.nsites; i++) {
		const struct umnp_sc_site *cs = &sc_hit.site[i];
		const uint8_t *at = (const uint8_t *)(info->dlpi_addr + cs->off);
		uintptr_t seg = exec_seg_end(info, (uintptr_t)at);

		uintptr_t fn = info->dlpi_addr + cs->func_off;

		/* another patcher's jump over the function's entry: decoding
		 * skips such a function (or chains to its hook) */
		if ((cs->len != 5 && cs->len != 7) || !seg ||
		    (uintptr_t)at + cs->len + 2 > seg || fn > (uintptr_t)at ||
		    !exec_seg_end(info, fn) ||
		    entry_patched((const uint8_t *)fn))
			goto stale;
		if (!memcmp(at, cs->bytes, cs->len + 2u))
			continue;
		if (cs->kind == UMNP_SC_TARGET && at[0] == 0xe9 &&
		    at[cs->len] == 0x0f && at[cs->len + 1] == 0x05)
			continue;
stale:
		if (debug_on)
			fprintf(stderr, "umn: site cache: %s: entry stale at "
					"+%#lx: decoding the object\n",
				st->name, (unsigned long)cs->off);
		return false;
	}
	st->held = sc_hit.held;
	st->unknown = sc_hit.unknown;
	st->undecodable = sc_hit.undecodable;
	for (uint32_t i = 0; i < sc_hit.nsites; i++) {
		const struct umnp_sc_site *cs = &sc_hit.site[i];
		uint8_t *at = (uint8_t *)(info->dlpi_addr + cs->off);

		/* a wrapper's site patch.c did not patch: the scan would
		 * have found it (a map-changing number only) */
		if (memcmp(at, cs->bytes, cs->len + 2u) ||
		    (cs->kind == UMNP_SC_TARGET && !nr_map_changing(cs->nr)))
			continue;
		site_found(st, info, at, cs->nr, cs->len);
		patch_found(st, at, cs->nr, cs->len, is_loader);
	}
	return true;
}

static void sc_add(uintptr_t bias, const uint8_t *at, uintptr_t func, long nr,
		   unsigned int len, unsigned int kind, const uint8_t *bytes,
		   bool *store)
{
	struct umnp_sc_site *cs;

	if (sc_new.nsites == UMNP_SC_MAX_SITES ||
	    (uintptr_t)at - bias > UINT32_MAX || func - bias > UINT32_MAX) {
		*store = false;
		return;
	}
	cs = &sc_new.site[sc_new.nsites++];
	memset(cs, 0, sizeof(*cs));
	cs->off = (uint32_t)((uintptr_t)at - bias);
	cs->func_off = (uint32_t)(func - bias);
	cs->nr = (int16_t)nr;
	cs->len = (uint8_t)len;
	cs->kind = (uint8_t)kind;
	memcpy(cs->bytes, bytes, len + 2);
}

static void scan_object(const struct dl_phdr_info *info)
{
	struct fnvec v = { 0 };
	struct cands c = { 0 };
	struct obj_stat *st;
	uintptr_t last;
	uintptr_t at_base = (uintptr_t)getauxval(AT_BASE);
	bool is_loader = at_base && info->dlpi_addr == at_base;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	bool store;

	if (strstr(name, "linux-vdso") ||
	    info->dlpi_addr == (uintptr_t)getauxval(AT_SYSINFO_EHDR) ||
	    (self_base && info->dlpi_addr == self_base && *name) ||
	    strstr(name, "libasan") || strstr(name, "libtsan") ||
	    strstr(name, "liblsan") || strstr(name, "libubsan") ||
	    strstr(name, "libclang_rt") || strstr(name, "libhwasan") ||
	    strstr(name, "libcapstone") || strstr(name, "libZydis"))
		return;
	st = stat_for(name);
	if (cache_entry_for(info, false) &&
	    scan_from_cache(info, st, is_loader)) {
		if (debug_on)
			fprintf(stderr, "umn: site cache: %s: %u sites from "
					"the cache\n", st->name,
				sc_hit.nsites);
		return;
	}
	store = sc_cur->id_ok;
	sc_new.nsites = 0;
	find_candidates(info, debug_on, &c);
	if (!c.n && !full_decode)
		goto out;
	if (decoder_init()) {
		decoder_missed = true;
		store = false;
		goto out;
	}
	store &= add_file_symbols(info, &v);
	add_eh_frame(info, &v);
	if (!full_decode)
		keep_candidate_functions(&v, &c);
	fn_sort(v.v, v.n);
	for (size_t i = 0; i < v.n;) {
		uintptr_t start = v.v[i].start, end = v.v[i].end, seg;
		uintptr_t next = v.v[i].next;
		bool skip = v.v[i].skip;
		size_t j = i + 1;
		struct found f[16];
		int n;

		for (; j < v.n && v.v[j].start == start; j++) {
			skip |= v.v[j].skip;
			if (v.v[j].end > end)
				end = v.v[j].end;
			if (v.v[j].next)
				next = v.v[j].next;
		}
		i = j;
		seg = exec_seg_end(info, start);
		if (skip || !seg)
			continue;
		if (!end && !next && j < v.n)
			next = v.v[j].start;
		if (!end)
			end = next ? next : seg;
		if (end > seg)
			end = seg;
		if (end <= start || end - start > (4u << 20))
			continue;
		/*
		 * The byte prefilter only chooses which functions to decode
		 * and how far: decode up to the last candidate's `syscall`.
		 * Every site patched is still a decoded instruction.
		 */
		last = full_decode ? end - 2 : last_cand(&c, start, end);
		if (!last || last + 2 > end)
			continue;
		if (entry_patched((const uint8_t *)start)) {
			store = false; /* this process's memory, not the file */
			continue;
		}
		n = decode_region((const uint8_t *)start, last + 2 - start, f,
				  16, false, -1, st);
		if (n < 0) {
			st->undecodable++;
			continue;
		}
		for (int k = 0; k < n; k++) {
			site_found(st, info, f[k].at, f[k].nr, f[k].len);
			sc_add(info->dlpi_addr, f[k].at, start, f[k].nr,
			       f[k].len, UMNP_SC_FOUND, f[k].at, &store);
			patch_found(st, f[k].at, f[k].nr, f[k].len, is_loader);
		}
	}
	scratch_unmap(v.v, v.cap * sizeof(*v.v));
out:
	scratch_unmap(c.v, c.cap * sizeof(*c.v));
	if (!store || v.failed || c.failed)
		return;
	/* patch.c's sites in this object, as they were before patching */
	for (unsigned int i = 0; i < ntfound; i++)
		if (exec_seg_end(info, tfound[i].at))
			sc_add(info->dlpi_addr, (const uint8_t *)tfound[i].at,
			       tfound[i].func, tfound[i].nr, tfound[i].len,
			       UMNP_SC_TARGET, tfound[i].bytes, &store);
	if (!store)
		return;
	sc_new.id = sc_cur->id;
	sc_new.held = st->held;
	sc_new.unknown = st->unknown;
	sc_new.undecodable = st->undecodable;
	umnp_self_cache_store(&sc_new);
	if (debug_on)
		fprintf(stderr, "umn: site cache: %s: decoded, %u sites "
				"stored\n", st->name, sc_new.nsites);
	/* this process decoded it: the entry read is no longer current */
	sc_cur->valid = false;
}

static int scan_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	bool *first = data;
	bool known = false;

	if (*first) {
		*first = false;
		if (size >= offsetof(struct dl_phdr_info, dlpi_subs) +
				    sizeof(info->dlpi_subs)) {
			if (info->dlpi_adds == last_adds &&
			    info->dlpi_subs == last_subs)
				return 1; /* nothing loaded or unloaded */
			last_adds = info->dlpi_adds;
			last_subs = info->dlpi_subs;
		}
	}
	for (size_t i = 0; i < nscanned; i++)
		if (scanned[i].addr == info->dlpi_addr &&
		    scanned[i].phdr == info->dlpi_phdr)
			known = true;
	if (!known)
		scan_object(info);
	if (nseen < MAX_OBJECTS) {
		seen[nseen].addr = info->dlpi_addr;
		seen[nseen].phdr = info->dlpi_phdr;
		nseen++;
	}
	return 0;
}

/* Caller holds discover_mutex. */
static void scan_all(void)
{
	bool first = true;

	nseen = 0;
	if (dl_iterate_phdr(scan_cb, &first) != 1) {
		memcpy(scanned, seen, nseen * sizeof(seen[0]));
		nscanned = nseen;
	}
	/* another object may come to this address later */
	sc_forget();
}

void umnp_self_discover_prepare(void)
{
	Dl_info di;

	if (dladdr((void *)umnp_self_discover_prepare, &di) && di.dli_fbase)
		self_base = (uintptr_t)di.dli_fbase;
}

/* The environment, once (the first of patch.c's targets, or init). */
static void discover_env(void)
{
	if (env_read)
		return;
	env_read = true;
	debug_on = umnp_self_env_on("UMN_SELF_DEBUG");
	full_decode = umnp_self_env_on("UMN_SELF_DISCOVER_FULL");
	dump_sites = umnp_self_env_on("UMN_SELF_DISCOVER_DUMP");
	umnp_self_cache_setup(debug_on, debug_on);
}

/*
 * The decoder is loaded only if some object is not in the site cache (or
 * its entry is stale).  Failing that, the result is the decoder's error,
 * as when there is no cache.
 */
int umnp_self_discover_init(void)
{
	discover_env();
	decoder_missed = false;
	scan_all();
	ntfound = 0;
	if (decoder_missed)
		return decoder_err ? decoder_err : -ENOTSUP;
	__atomic_store_n(&discovery_on, true, __ATOMIC_RELEASE);
	return 0;
}

static void print_stats(unsigned int from)
{
	for (unsigned int i = from; i < nstats; i++) {
		const struct obj_stat *st = &stats[i % MAX_STATS];

		if (!st->patched && !st->failed && !st->held && !st->unknown &&
		    !st->undecodable)
			continue;
		fprintf(stderr,
			"umn: sites %s: %u patched; not patched: %u failed, "
			"%u number set before other instructions, "
			"%u number in a register, %u undecodable functions\n",
			st->name, st->patched, st->failed, st->held,
			st->unknown, st->undecodable);
	}
}

void umnp_self_discover_rescan(void)
{
	unsigned int from;

	/* on the thread that is discovering (its decoder's dlopen): the
	 * scan in progress, or the next rescan, sees the new objects */
	if (!__atomic_load_n(&discovery_on, __ATOMIC_ACQUIRE) ||
	    discover_owner)
		return;
	umnp_self_discover_lock();
	from = nstats;
	scan_all();
	umnp_self_patch_seal();
	if (nstats != from && debug_on)
		print_stats(from);
	umnp_self_discover_unlock();
}

void umnp_self_discover_debug(void)
{
	umnp_self_discover_lock();
	print_stats(nstats > MAX_STATS ? nstats - MAX_STATS : 0);
	umnp_self_discover_unlock();
}

#else /* !__x86_64__ */

uint8_t *umnp_self_find_site_before(const uint8_t *start, const uint8_t *insn,
				    long nr, uint8_t *len)
{
	(void)start; (void)insn; (void)nr; (void)len;
	return NULL;
}

const char *umnp_self_decoder_status(void)
{
	return "not x86-64";
}

void umnp_self_discover_prepare(void)
{
}

int umnp_self_discover_init(void)
{
	return -ENOTSUP;
}

void umnp_self_discover_rescan(void)
{
}

int umnp_self_find_sites(const uint8_t *func, size_t size, long nr,
			 uint8_t **out, uint8_t *lens, int max)
{
	(void)func; (void)size; (void)nr; (void)out; (void)lens; (void)max;
	return 0;
}

int umnp_self_find_sites_cached(const uint8_t *func, long nr, uint8_t **out,
				uint8_t *lens, int max)
{
	(void)func; (void)nr; (void)out; (void)lens; (void)max;
	return 0;
}

void umnp_self_discover_lock(void)
{
}

bool umnp_self_discover_trylock(void)
{
	return false;
}

void umnp_self_discover_unlock(void)
{
}

void umnp_self_discover_debug(void)
{
}

uint8_t *umnp_self_find_syscall_ret(const uint8_t *func, size_t size)
{
	(void)func; (void)size;
	return NULL;
}

void umnp_self_exe_symbols(const char *const names[], void *out[], int n)
{
	(void)names;
	for (int i = 0; i < n; i++)
		out[i] = NULL;
}

#endif
