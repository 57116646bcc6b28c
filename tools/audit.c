/* SPDX-License-Identifier: MIT */
/*
 * The oracle: a seccomp user-notification supervisor.  The traced command
 * runs under a filter that stops every call able to change a mapping
 * (munmap, mremap, madvise, process_madvise, mmap with MAP_FIXED, brk,
 * shmat, shmdt, mprotect; execve/execveat only to notice new images) and
 * hands it to this file before the kernel runs it.  We record the call,
 * decide whether it must have a umn event, check that the preload already
 * reported one, and let the call continue (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
 *
 * The rule (also in doc/umn.1.md).  A call *must* have an event when, at
 * the moment the kernel is about to run it, its affected range intersects
 * a mapping of the calling process (read from /proc/TID/maps while the
 * thread is stopped), where the affected range is:
 *   munmap(a, l)           [a, a+l)
 *   mprotect(a, l, p)      [a, a+l)
 *   mmap(a, l, .., MAP_FIXED without MAP_FIXED_NOREPLACE)   [a, a+l)
 *   madvise(a, l, adv)     [a, a+l) if adv drops or replaces pages:
 *                          DONTNEED, DONTNEED_LOCKED, FREE, REMOVE,
 *                          PAGEOUT, COLLAPSE, GUARD_INSTALL, HWPOISON,
 *                          SOFT_OFFLINE (COLD, WILLNEED, hints: none)
 *   process_madvise        each iovec, as madvise, when the pidfd names
 *                          the calling process itself
 *   mremap(o, os, ns, f)   [o+ns, o+os) when shrinking; the whole old range
 *                          when it may move (MAYMOVE growing, FIXED,
 *                          DONTUNMAP); with MREMAP_FIXED also [new, new+ns)
 *   brk(b)                 [PAGE_ALIGN(b), end of [heap]) when shrinking
 *   shmat(id, a, SHM_REMAP) [a, a+segment size)
 *   shmdt(a)               the SysV segment mapped at a
 * (lengths rounded up to pages; misaligned addresses fail with EINVAL and
 * need nothing).  The range to cover is clipped to the mapped part.
 *
 * Matching: the preload sends its event record from invalidate_range_start,
 * before the real call, so when a notification of thread T arrives the
 * record is already queued (we drain the socket first).  The call is
 * matched when the union of T's unmatched events -- those that arrived
 * since T's previous audited call (one more call of slack, for a signal
 * handler that unmaps in between) -- covers each affected range (page
 * rounded).  A call a signal interrupts before it ran is re-issued by the
 * kernel: the first notification is then invalid and is dropped.
 *
 * Processes: each image (pid + the AT_RANDOM bytes of its exec) must say
 * "ready" once the preload has subscribed.  Calls an image made before it
 * was ready (the dynamic loader, the preload's own set-up) are "startup"
 * and exempt -- unless the image never becomes ready (a static binary, an
 * exec without LD_PRELOAD, a failed preload): then every one is missed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proto.h"
#include "tool.h"

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "umn --audit: unsupported architecture"
#endif
/* Wake the supervisor on the notifying thread's CPU (Linux 6.6). */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif
#ifndef __NR_process_madvise
#define __NR_process_madvise 440
#endif

/* ---- the filter --------------------------------------------------------- */

static const char *sys_name(int nr)
{
	switch (nr) {
	case __NR_munmap: return "munmap";
	case __NR_mremap: return "mremap";
	case __NR_madvise: return "madvise";
	case __NR_process_madvise: return "process_madvise";
	case __NR_brk: return "brk";
	case __NR_shmat: return "shmat";
	case __NR_shmdt: return "shmdt";
	case __NR_mprotect: return "mprotect";
	case __NR_mmap: return "mmap";
	case __NR_execve: return "execve";
	case __NR_execveat: return "execveat";
	}
	return "?";
}

/*
 * The filter, built with libseccomp: notify only the calls that can change
 * a mapping, with argument masks so the common harmless ones never leave
 * the kernel: mmap only with MAP_FIXED (MAP_FIXED_NOREPLACE does not have
 * the bit), madvise and process_madvise only with advice that drops pages,
 * shmat only with SHM_REMAP.  Other architectures (x32, 32-bit calls) are
 * let through: SCMP_FLTATR_ACT_BADARCH is ALLOW.
 */
static const unsigned int drop_advice[] = {
	4 /* DONTNEED */, 8 /* FREE */, 9 /* REMOVE */, 21 /* PAGEOUT */,
	24 /* DONTNEED_LOCKED */, 25 /* COLLAPSE */, 100 /* HWPOISON */,
	101 /* SOFT_OFFLINE */, 102 /* GUARD_INSTALL */,
};

static int build_filter(scmp_filter_ctx ctx)
{
	static const int always[] = {
		__NR_munmap, __NR_mremap, __NR_brk, __NR_shmdt, __NR_mprotect,
		__NR_execve, __NR_execveat,
	};
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < sizeof(always) / sizeof(always[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, always[i], 0);
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, __NR_mmap, 1,
			SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_FIXED, MAP_FIXED));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, __NR_shmat, 1,
			SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_REMAP, SHM_REMAP));
	for (i = 0; !ret && i < sizeof(drop_advice) / sizeof(drop_advice[0]);
	     i++) {
		/* advice is an int: compare the low 32 bits only */
		ret = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, __NR_madvise, 1,
			SCMP_A2(SCMP_CMP_MASKED_EQ, 0xffffffffu, drop_advice[i]));
		if (!ret)
			ret = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY,
				__NR_process_madvise, 1,
				SCMP_A3(SCMP_CMP_MASKED_EQ, 0xffffffffu,
					drop_advice[i]));
	}
	return ret;
}

int audit_child_install(int sock)
{
	scmp_filter_ctx ctx;
	int fd = -1, err, status = 0;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { &status, sizeof(status) };
	struct msghdr msg = { 0 };
	struct cmsghdr *c;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		err = -ENOMEM;
		goto send;
	}
	err = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW);
	if (!err)
		err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (!err)
		err = build_filter(ctx);
	if (!err) {
		err = seccomp_load(ctx);
		if (err == -EACCES) {
			/* without CAP_SYS_ADMIN a filter needs no_new_privs */
			seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
			err = seccomp_load(ctx);
		}
	}
	if (!err) {
		fd = seccomp_notify_fd(ctx);
		if (fd < 0)
			err = fd;
	}
	seccomp_release(ctx);
send:
	status = -err;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && !err)
		err = -errno;
	if (fd >= 0)
		close(fd);
	return err;
}

int audit_receive_listener(int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	int status = 0, fd = -1;
	struct iovec iov = { &status, sizeof(status) };
	struct msghdr msg = { 0 };
	struct cmsghdr *c;
	ssize_t n;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(status))
		return -EPIPE;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (status) {
		if (fd >= 0)
			close(fd);
		return -status;
	}
	if (fd < 0)
		return -EPROTO;
	/* a notifying thread waits for us: run us on its CPU (best effort,
	 * older kernels refuse the flag) */
	ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS,
	      SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
	return fd;
}

/* ---- state -------------------------------------------------------------- */

struct range {
	unsigned long start, end;
};

struct ev {
	unsigned long start, end;
	unsigned long gen;   /* thread's call count when it arrived */
	unsigned char event, origin, used;
};

struct thr {
	int tid, tgid;
	int image;           /* index in images, -1 unknown (re-read) */
	unsigned long gen;   /* audited calls of this thread so far */
	struct ev *evs;
	size_t nev, cap;
};

#define MAX_REQ 8
struct call {
	int tid, tgid, nr, image;
	unsigned long args[6];
	int nreq;
	struct range req[MAX_REQ];
	int partial;         /* some range only partly covered */
	int unchecked;       /* ranges as asked: the map was not read */
	char from[40];       /* the object the call was made from (its IP) */
};

struct image {
	int tgid;
	unsigned char token[UMN_TRACE_TOKEN_BYTES];
	bool ready, failed;
	char exe[96];
	unsigned long brk_known; /* the break is at most this (0: unknown) */
	struct call *startup; /* required, unmatched calls before ready */
	size_t nstartup, capstartup;
};

static struct thr *thrs;
static size_t nthr, capthr;
static int *thr_hash;  /* index+1, 0 empty */
static size_t hash_cap;

static struct image *images;
static size_t nimages, capimages;

static struct call *missed;
static size_t nmissed, capmissed;

struct sysstat {
	unsigned long seen, required, matched, missed, startup;
};
static struct sysstat stats[512];
static unsigned long calls_total, calls_required, calls_missed;
static unsigned long calls_startup, calls_dropped, events_total;
static unsigned long events_unmatched, calls_maps_read;
static bool verbose;
static bool exact_startup; /* read the map even for startup calls */
static FILE *vout;
static unsigned long page_size;

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;

	if (need <= *cap)
		return p;
	while (ncap < need)
		ncap *= 2;
	p = realloc(p, ncap * elem);
	if (!p) {
		tool_error("out of memory");
		exit(EXIT_TOOL_ERROR);
	}
	memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
	*cap = ncap;
	return p;
}

void audit_init(bool v, bool exact, FILE *out)
{
	verbose = v;
	exact_startup = exact;
	vout = out;
	page_size = (unsigned long)sysconf(_SC_PAGESIZE);
}

static void hash_insert(int tid, size_t idx)
{
	size_t h = ((unsigned int)tid * 2654435761u) & (hash_cap - 1);

	while (thr_hash[h])
		h = (h + 1) & (hash_cap - 1);
	thr_hash[h] = (int)idx + 1;
}

static struct thr *thr_get(int tid, int tgid_hint)
{
	size_t h, i;

	if (hash_cap) {
		h = ((unsigned int)tid * 2654435761u) & (hash_cap - 1);
		while (thr_hash[h]) {
			struct thr *t = &thrs[thr_hash[h] - 1];

			if (t->tid == tid) {
				if (tgid_hint > 0 && t->tgid != tgid_hint) {
					/* tid reused by another process */
					t->tgid = tgid_hint;
					t->image = -1;
					t->nev = 0;
				}
				return t;
			}
			h = (h + 1) & (hash_cap - 1);
		}
	}
	if ((nthr + 1) * 2 > hash_cap) {
		size_t ncap = hash_cap ? hash_cap * 2 : 256;

		free(thr_hash);
		thr_hash = calloc(ncap, sizeof(*thr_hash));
		if (!thr_hash) {
			tool_error("out of memory");
			exit(EXIT_TOOL_ERROR);
		}
		hash_cap = ncap;
		for (i = 0; i < nthr; i++)
			hash_insert(thrs[i].tid, i);
	}
	thrs = grow(thrs, &capthr, nthr + 1, sizeof(*thrs));
	thrs[nthr].tid = tid;
	thrs[nthr].tgid = tgid_hint;
	thrs[nthr].image = -1;
	hash_insert(tid, nthr);
	return &thrs[nthr++];
}

static int image_find(int tgid, const unsigned char *token, bool create)
{
	size_t i;

	for (i = nimages; i-- > 0;)
		if (images[i].tgid == tgid &&
		    memcmp(images[i].token, token, UMN_TRACE_TOKEN_BYTES) == 0)
			return (int)i;
	if (!create)
		return -1;
	images = grow(images, &capimages, nimages + 1, sizeof(*images));
	images[nimages].tgid = tgid;
	memcpy(images[nimages].token, token, UMN_TRACE_TOKEN_BYTES);
	return (int)nimages++;
}

void audit_ready(int pid, const unsigned char *token)
{
	int i = image_find(pid, token, true);

	images[i].ready = true;
}

void audit_event(int pid, int tid, unsigned int event, unsigned int origin,
		 unsigned long start, unsigned long end)
{
	struct thr *t = thr_get(tid, pid);
	size_t i, j;

	events_total++;
	/* forget events older than the previous call's window */
	for (i = j = 0; i < t->nev; i++) {
		if (t->evs[i].used || t->evs[i].gen + 1 < t->gen) {
			if (!t->evs[i].used)
				events_unmatched++;
			continue;
		}
		t->evs[j++] = t->evs[i];
	}
	t->nev = j;
	t->evs = grow(t->evs, &t->cap, t->nev + 1, sizeof(*t->evs));
	t->evs[t->nev].start = start;
	t->evs[t->nev].end = end;
	t->evs[t->nev].gen = t->gen;
	t->evs[t->nev].event = (unsigned char)event;
	t->evs[t->nev].origin = (unsigned char)origin;
	t->evs[t->nev].used = 0;
	t->nev++;
}

/* ---- reading the stopped thread ----------------------------------------- */

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t off = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	while (off + 1 < len) {
		n = read(fd, buf + off, len - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = 0;
	return (int)off;
}

static int read_mem(int tid, unsigned long addr, void *buf, size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)addr, len };
	char path[64];
	ssize_t n;
	int fd;

	n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/mem", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = pread(fd, buf, len, (off_t)addr);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static int read_tgid(int tid)
{
	char path[64], buf[2048], *p;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	p = strstr(buf, "\nTgid:");
	return p ? atoi(p + 6) : -1;
}

/* The image token: the 16 AT_RANDOM bytes of the thread's current exec. */
static int read_token(int tid, unsigned char *token)
{
	unsigned long auxv[2 * 64];
	char path[64];
	int fd, i;
	ssize_t n;

	memset(token, 0, UMN_TRACE_TOKEN_BYTES);
	snprintf(path, sizeof(path), "/proc/%d/auxv", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, auxv, sizeof(auxv));
	close(fd);
	for (i = 0; n > 0 && (size_t)(i + 1) * sizeof(long) < (size_t)n;
	     i += 2) {
		if (auxv[i] == 25 /* AT_RANDOM */)
			return read_mem(tid, auxv[i + 1], token,
					UMN_TRACE_TOKEN_BYTES);
		if (auxv[i] == 0)
			break;
	}
	return -1;
}

struct vma {
	unsigned long start, end, inode;
	const char *path;   /* into mapsbuf: valid until the next read */
	bool heap, sysv;
};

static struct vma *vmas;
static size_t nvmas, capvmas;
static char *mapsbuf;
static size_t mapscap;

static int read_maps(int tid)
{
	char path[64], *line, *next;
	int fd;
	size_t off = 0;
	ssize_t n;

	nvmas = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (;;) {
		mapsbuf = grow(mapsbuf, &mapscap, off + 65536, 1);
		n = read(fd, mapsbuf + off, mapscap - off - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	mapsbuf[off] = 0;
	for (line = mapsbuf; line && *line; line = next) {
		unsigned long s, e, ino;
		int pathoff = 0;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu %n", &s, &e, &ino,
			   &pathoff) < 3)
			continue;
		vmas = grow(vmas, &capvmas, nvmas + 1, sizeof(*vmas));
		vmas[nvmas].start = s;
		vmas[nvmas].end = e;
		vmas[nvmas].inode = ino;
		vmas[nvmas].path = pathoff ? line + pathoff : "";
		vmas[nvmas].heap = pathoff && strcmp(line + pathoff, "[heap]") == 0;
		vmas[nvmas].sysv = pathoff && strncmp(line + pathoff, "/SYSV", 5) == 0;
		nvmas++;
	}
	return 0;
}

static unsigned long page_up(unsigned long x)
{
	return (x + page_size - 1) & ~(page_size - 1);
}

static unsigned long page_down(unsigned long x)
{
	return x & ~(page_size - 1);
}

/* With maps read, ranges are clipped to their mapped part (and dropped when
 * nothing there is mapped); before, they are taken whole: if umn's events
 * cover the whole range they cover its mapped part too, and /proc is not
 * read at all. */
static bool clip_to_maps;

/* Add [s, s+len), clipped to its mapped part when clip_to_maps. */
static void add_req(struct call *c, unsigned long s, unsigned long len)
{
	unsigned long e, lo = ULONG_MAX, hi = 0;
	size_t i;

	if (!len || (s & (page_size - 1)))
		return;
	len = page_up(len);
	if (!len || s + len < s)
		return;
	e = s + len;
	if (!clip_to_maps) {
		lo = s;
		hi = e;
	}
	for (i = 0; clip_to_maps && i < nvmas; i++) {
		if (vmas[i].end <= s || vmas[i].start >= e)
			continue;
		if (vmas[i].start < lo)
			lo = vmas[i].start;
		if (vmas[i].end > hi)
			hi = vmas[i].end;
	}
	if (lo >= hi || c->nreq >= MAX_REQ)
		return;
	c->req[c->nreq].start = lo > s ? lo : s;
	c->req[c->nreq].end = hi < e ? hi : e;
	c->nreq++;
}

static bool advice_drops(unsigned long adv)
{
	switch (adv) {
	case 4:   /* MADV_DONTNEED */
	case 8:   /* MADV_FREE */
	case 9:   /* MADV_REMOVE */
	case 21:  /* MADV_PAGEOUT */
	case 24:  /* MADV_DONTNEED_LOCKED */
	case 25:  /* MADV_COLLAPSE */
	case 100: /* MADV_HWPOISON */
	case 101: /* MADV_SOFT_OFFLINE */
	case 102: /* MADV_GUARD_INSTALL */
		return true;
	}
	return false;
}

static int pidfd_target(int tid, int pidfd)
{
	char path[64], buf[1024], *p;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", tid, pidfd);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	p = strstr(buf, "Pid:");
	return p ? atoi(p + 4) : -1;
}

/* Which object's code made the call (for the report). */
static void call_site(struct call *c, unsigned long ip)
{
	const char *base;
	size_t i;

	for (i = 0; i < nvmas; i++) {
		if (ip < vmas[i].start || ip >= vmas[i].end)
			continue;
		base = strrchr(vmas[i].path, '/');
		snprintf(c->from, sizeof(c->from), "%s",
			 base ? base + 1 : vmas[i].path);
		return;
	}
}

/*
 * Fill c->req: the ranges the call is about to change.  With clip false,
 * from the arguments alone (no /proc read); returns false when that is not
 * enough (brk below the known break, shmdt, process_madvise: their ranges
 * depend on the map or on another descriptor).  With clip true, from
 * /proc/TID/maps read now, clipped to what is mapped.
 */
static bool affected(struct call *c, unsigned long ip, bool clip)
{
	unsigned long *a = c->args;
	size_t i;

	c->nreq = 0;
	clip_to_maps = clip;
	if (clip) {
		if (read_maps(c->tid) != 0)
			return true;
		call_site(c, ip);
	}
	switch (c->nr) {
	case __NR_munmap:
	case __NR_mprotect:
		add_req(c, a[0], a[1]);
		break;
	case __NR_mmap:
		if ((a[3] & MAP_FIXED) && !(a[3] & MAP_FIXED_NOREPLACE))
			add_req(c, a[0], a[1]);
		break;
	case __NR_madvise:
		if (advice_drops(a[2]))
			add_req(c, a[0], a[1]);
		break;
	case __NR_process_madvise: {
		struct iovec iov[MAX_REQ];
		unsigned long n = a[2] < MAX_REQ ? a[2] : MAX_REQ;

		if (!clip)
			return !advice_drops(a[3]);
		if (!advice_drops(a[3]) || pidfd_target(c->tid, (int)a[0]) != c->tgid)
			break;
		if (read_mem(c->tid, a[1], iov, n * sizeof(*iov)) != 0)
			break;
		for (i = 0; i < n; i++)
			add_req(c, (unsigned long)iov[i].iov_base, iov[i].iov_len);
		break;
	}
	case __NR_mremap: {
		unsigned long os = page_up(a[1]), ns = page_up(a[2]);

		if (a[0] & (page_size - 1))
			break;
		if (a[3] & MREMAP_FIXED) {
			add_req(c, a[4], ns);
			add_req(c, a[0], os);
		} else if (ns < os) {
			add_req(c, a[0] + ns, os - ns);
		} else if ((a[3] & MREMAP_MAYMOVE) && os &&
			   (ns > os || (a[3] & MREMAP_DONTUNMAP))) {
			add_req(c, a[0], os);
		}
		break;
	}
	case __NR_brk: {
		struct image *im = &images[c->image];

		if (!clip) {
			/* at or above the highest break asked for since the
			 * map was last read: growing or a query, no event */
			if (!a[0] || (im->brk_known && a[0] >= im->brk_known)) {
				if (a[0])
					im->brk_known = page_up(a[0]);
				return true;
			}
			return false;
		}
		for (i = 0; a[0] && i < nvmas; i++) {
			unsigned long nb = page_up(a[0]);

			if (!vmas[i].heap)
				continue;
			if (a[0] >= vmas[i].start && nb < vmas[i].end)
				add_req(c, nb, vmas[i].end - nb);
			else if (a[0] >= vmas[i].end)
				im->brk_known = nb;
			break;
		}
		break;
	}
	case __NR_shmat: {
		struct shmid_ds ds;
		unsigned long addr = a[1];

		if (!addr || !(a[2] & SHM_REMAP))
			break;
		if (a[2] & SHM_RND)
			addr &= ~((unsigned long)SHMLBA - 1);
		if (shmctl((int)a[0], IPC_STAT, &ds) != 0)
			break;
		add_req(c, addr, ds.shm_segsz);
		break;
	}
	case __NR_shmdt:
		if (!clip)
			return false;
		for (i = 0; i < nvmas; i++) {
			size_t j;

			if (vmas[i].start != a[0] || !vmas[i].sysv)
				continue;
			/* the run of one segment: SysV mappings with its id
			 * (the inode; 0 for the first segment of an IPC
			 * namespace, so the /SYSV path is checked too) */
			for (j = i + 1; j < nvmas && vmas[j].sysv &&
			     vmas[j].inode == vmas[i].inode &&
			     vmas[j].start == vmas[j - 1].end; j++)
				;
			add_req(c, a[0], vmas[j - 1].end - a[0]);
			break;
		}
		break;
	}
	return true;
}

/* Is every required range covered by the union of the thread's events? */
static bool match(struct thr *t, struct call *c, bool consume)
{
	bool all = true;
	int r;
	size_t i;

	c->partial = 0;
	for (r = 0; r < c->nreq; r++) {
		unsigned long pos = c->req[r].start, end = c->req[r].end;
		bool progress = true, any = false;

		/* sweep: extend pos with any candidate that starts <= pos */
		while (pos < end && progress) {
			progress = false;
			for (i = 0; i < t->nev; i++) {
				struct ev *e = &t->evs[i];
				unsigned long s = page_down(e->start);
				unsigned long x = page_up(e->end);

				if (e->used || e->gen + 1 < t->gen ||
				    x <= c->req[r].start || s >= end)
					continue;
				any = true;
				if (s <= pos && x > pos) {
					pos = x;
					progress = true;
				}
			}
		}
		if (pos < end) {
			all = false;
			if (any)
				c->partial = 1;
		}
	}
	if (!consume)
		return all;
	/* consume every candidate overlapping one of the ranges */
	for (i = 0; i < t->nev; i++) {
		struct ev *e = &t->evs[i];

		if (e->used || e->gen + 1 < t->gen)
			continue;
		for (r = 0; r < c->nreq; r++)
			if (page_down(e->start) < c->req[r].end &&
			    page_up(e->end) > c->req[r].start)
				e->used = 1;
	}
	return all;
}

static void format_call(char *buf, size_t len, const struct call *c)
{
	const unsigned long *a = c->args;

	switch (c->nr) {
	case __NR_munmap:
		snprintf(buf, len, "munmap(%#lx, %lu)", a[0], a[1]);
		break;
	case __NR_mprotect:
		snprintf(buf, len, "mprotect(%#lx, %lu, %#lx)", a[0], a[1], a[2]);
		break;
	case __NR_madvise:
		snprintf(buf, len, "madvise(%#lx, %lu, %lu)", a[0], a[1], a[2]);
		break;
	case __NR_mmap:
		snprintf(buf, len, "mmap(%#lx, %lu, %#lx, %#lx, %d, %#lx)",
			 a[0], a[1], a[2], a[3], (int)a[4], a[5]);
		break;
	case __NR_mremap:
		snprintf(buf, len, "mremap(%#lx, %lu, %lu, %#lx, %#lx)",
			 a[0], a[1], a[2], a[3], a[4]);
		break;
	case __NR_brk:
		snprintf(buf, len, "brk(%#lx)", a[0]);
		break;
	case __NR_shmat:
		snprintf(buf, len, "shmat(%d, %#lx, %#lx)", (int)a[0], a[1], a[2]);
		break;
	case __NR_shmdt:
		snprintf(buf, len, "shmdt(%#lx)", a[0]);
		break;
	case __NR_process_madvise:
		snprintf(buf, len, "process_madvise(%d, %#lx, %lu, %lu, %lu)",
			 (int)a[0], a[1], a[2], a[3], a[4]);
		break;
	default:
		snprintf(buf, len, "%s(%#lx, %#lx, %#lx)", sys_name(c->nr),
			 a[0], a[1], a[2]);
	}
}

static void record_missed(const struct call *c)
{
	missed = grow(missed, &capmissed, nmissed + 1, sizeof(*missed));
	missed[nmissed++] = *c;
}

int audit_handle(int listener, void (*drain)(int pid))
{
	static struct seccomp_notif *req;
	static struct seccomp_notif_resp *resp;
	static struct seccomp_notif_sizes sizes;
	struct call c;
	struct thr *t;
	struct image *im;
	bool ok, known;
	int i;

	if (!req) {
		if (seccomp_notify_alloc(&req, &resp) != 0) {
			tool_error("seccomp_notify_alloc: out of memory");
			return -1;
		}
		/* the kernel's sizes may exceed the headers': zero them all */
		if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
			sizes.seccomp_notif = sizeof(*req);
	}
	memset(req, 0, sizes.seccomp_notif);
	if (seccomp_notify_receive(listener, req) != 0) {
		if (errno == EINTR || errno == ENOENT)
			return 0;
		return -1;
	}

	memset(&c, 0, sizeof(c));
	c.tid = (int)req->pid;
	c.nr = req->data.nr;
	for (i = 0; i < 6; i++)
		c.args[i] = (unsigned long)req->data.args[i];
	t = thr_get(c.tid, 0);
	if (t->tgid <= 0)
		t->tgid = read_tgid(c.tid);
	c.tgid = t->tgid;
	if (c.nr == __NR_execve || c.nr == __NR_execveat) {
		size_t k;

		/* the image may change: re-read the token of every thread of
		 * this process at its next call */
		for (k = 0; k < nthr; k++)
			if (thrs[k].tgid == c.tgid)
				thrs[k].image = -1;
	} else {
		if (t->image < 0) {
			unsigned char token[UMN_TRACE_TOKEN_BYTES];

			read_token(c.tid, token);
			t->image = image_find(c.tgid, token, true);
			im = &images[t->image];
			if (!im->exe[0]) {
				char path[64];
				ssize_t n;

				snprintf(path, sizeof(path), "/proc/%d/exe", c.tid);
				n = readlink(path, im->exe, sizeof(im->exe) - 1);
				im->exe[n > 0 ? n : 0] = 0;
			}
		}
		c.image = t->image;
		/*
		 * Cheap first: this process's records only, and the ranges
		 * from the arguments.  If umn's events cover them (the usual
		 * case) nothing else is read.  Otherwise every connection is
		 * drained and the map is read, to decide exactly.
		 */
		drain(c.tgid);
		known = affected(&c, 0, false);
		im = &images[c.image];
		if (known && c.nreq && !im->ready && !exact_startup) {
			/* before the preload is ready no event is expected:
			 * decided at the end, exempt if the image becomes
			 * ready; the map is read only if it never does
			 * (then the range as asked is reported) */
			c.unchecked = 1;
		} else if (!known || (c.nreq && !match(t, &c, false))) {
			drain(-1);
			affected(&c, (unsigned long)req->data.instruction_pointer,
				 true);
			calls_maps_read++;
		}
	}

	memset(resp, 0, sizeof(*resp));
	resp->id = req->id;
	resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	if (seccomp_notify_respond(listener, resp) != 0) {
		/* interrupted before it ran (it will be re-issued) or the
		 * process died: the call did not happen */
		calls_dropped++;
		return 0;
	}
	if (c.nr == __NR_execve || c.nr == __NR_execveat)
		return 0;

	calls_total++;
	stats[c.nr & 511].seen++;
	if (!c.nreq) {
		if (verbose)
			fprintf(vout, "umn: audit: %d/%d %s: no mapping changes\n",
				c.tgid, c.tid, sys_name(c.nr));
		t->gen++;
		return 0;
	}
	ok = match(t, &c, true);
	t->gen++;
	im = &images[c.image];
	if (verbose) {
		char buf[160];

		format_call(buf, sizeof(buf), &c);
		fprintf(vout, "umn: audit: %d/%d %s: %s\n", c.tgid, c.tid, buf,
			ok ? "event seen" :
			im->ready ? "MISSED" : "not yet covered (startup)");
	}
	if (ok) {
		calls_required++;
		stats[c.nr & 511].required++;
		stats[c.nr & 511].matched++;
	} else if (!im->ready) {
		/* decided at the end: startup if the image became ready */
		im->startup = grow(im->startup, &im->capstartup,
				   im->nstartup + 1, sizeof(*im->startup));
		im->startup[im->nstartup++] = c;
	} else {
		calls_required++;
		calls_missed++;
		stats[c.nr & 511].required++;
		stats[c.nr & 511].missed++;
		record_missed(&c);
	}
	return 0;
}

static void print_missed(FILE *out, const struct call *c, const char *why)
{
	char buf[160];
	int r;

	format_call(buf, sizeof(buf), c);
	fprintf(out, "umn: audit: missed %s pid %d tid %d (%s) called from %s%s: %s",
		buf, c->tgid, c->tid, images[c->image].exe[0] ?
		images[c->image].exe : "?", c->from[0] ? c->from : "?",
		strncmp(c->from, "ld-linux", 8) == 0 ?
		" (the dynamic loader: dlopen/dlclose, not libc)" : "", why);
	for (r = 0; r < c->nreq; r++)
		fprintf(out, " [%#lx-%#lx)", c->req[r].start, c->req[r].end);
	fputc('\n', out);
}

static unsigned long report_text(FILE *out, bool static_hint);

/* With json, each line of the report becomes an object: the last one
 * {"type":"audit","calls":N,"missed":M}, the others messages. */
unsigned long audit_report(FILE *out, bool static_hint, bool json)
{
	char *buf = NULL, *line, *next;
	size_t len = 0;
	unsigned long calls, nmiss, ret;
	FILE *mem;

	if (!json)
		return report_text(out, static_hint);
	mem = open_memstream(&buf, &len);
	if (!mem)
		return report_text(out, static_hint);
	ret = report_text(mem, static_hint);
	fclose(mem);
	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (sscanf(line, "audit: %lu calls, %lu missed", &calls,
			   &nmiss) == 2) {
			fprintf(out, "{\"type\":\"audit\",\"calls\":%lu,"
				"\"missed\":%lu}\n", calls, nmiss);
			continue;
		}
		fputs("{\"type\":\"message\",\"text\":", out);
		json_string(out, strncmp(line, "umn: ", 5) ? line : line + 5);
		fputs("}\n", out);
	}
	free(buf);
	fflush(out);
	return ret;
}

static unsigned long report_text(FILE *out, bool static_hint)
{
	unsigned long never = 0;
	size_t i, j;
	int nr;

	for (i = 0; i < nmissed; i++)
		print_missed(out, &missed[i], missed[i].partial ?
			     "event covers only part of" : "no umn event for");
	for (i = 0; i < nimages; i++) {
		struct image *im = &images[i];

		if (im->ready) {
			calls_startup += im->nstartup;
			for (j = 0; j < im->nstartup; j++)
				stats[im->startup[j].nr & 511].startup++;
			continue;
		}
		if (!im->nstartup)
			continue;
		never++;
		for (j = 0; j < im->nstartup; j++) {
			struct call *c = &im->startup[j];

			calls_required++;
			calls_missed++;
			stats[c->nr & 511].required++;
			stats[c->nr & 511].missed++;
			print_missed(out, c, c->unchecked ?
				     "umn was never loaded in this process, no "
				     "event for (the range asked, not checked "
				     "against the map)" :
				     "umn was never loaded in this process, no event for");
		}
	}
	fprintf(out, "umn: audit: %-16s %8s %8s %8s %8s %8s\n", "CALL", "SEEN",
		"MUST", "MATCHED", "MISSED", "STARTUP");
	for (nr = 0; nr < 512; nr++) {
		struct sysstat *s = &stats[nr];

		if (!s->seen)
			continue;
		fprintf(out, "umn: audit: %-16s %8lu %8lu %8lu %8lu %8lu\n",
			sys_name(nr), s->seen, s->required, s->matched,
			s->missed, s->startup);
	}
	fprintf(out, "umn: audit: %lu calls seen, %lu changed no mapping, "
		"%lu before umn was ready (exempt), %lu events, %lu events "
		"matched no call, %lu calls needed /proc/TID/maps\n",
		calls_total, calls_total - calls_required - calls_startup,
		calls_startup, events_total, events_unmatched,
		calls_maps_read);
	if (never)
		fprintf(out, "umn: audit: %lu process image%s never loaded umn%s\n",
			never, never == 1 ? "" : "s",
			static_hint ? " (statically linked: every call is missed)" : "");
	fprintf(out, "audit: %lu calls, %lu missed\n", calls_required,
		calls_missed);
	fflush(out);
	return calls_missed;
}
