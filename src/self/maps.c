/* SPDX-License-Identifier: MIT */
/*
 * /proc files, one line at a time, from a hook or a signal handler: raw
 * system calls (no libc wrapper, so nothing hooked, no errno), one 4 KiB
 * buffer on the caller's stack, no allocation.
 *
 * Users: hooks.c (shmdt: the length of the System V segment attached at
 * an address) and sud.c (the mapping holding a trapped site: anonymous,
 * executable?) read /proc/self/maps; signals.c (the caught signals) and
 * sud_threads.c (a thread's state and blocked signals) read status files.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include "self_internal.h"

static bool parse_hex(const char **p, const char *e, unsigned long *v)
{
	const char *s = *p;

	*v = 0;
	while (s < e) {
		int c = *s, d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			break;
		*v = (*v << 4) | (unsigned long)d;
		s++;
	}
	if (s == *p)
		return false;
	*p = s;
	return true;
}

/* Skip n fields separated by spaces (and the spaces after them). */
static const char *skip_fields(const char *s, const char *e, int n)
{
	for (int i = 0; i < n; i++) {
		while (s < e && *s != ' ')
			s++;
		while (s < e && *s == ' ')
			s++;
	}
	return s;
}

/* "start-end perms offset dev inode [path]" */
static bool parse_line(const char *s, const char *e, struct umnp_self_map *m)
{
	if (!parse_hex(&s, e, &m->start) || s >= e || *s++ != '-' ||
	    !parse_hex(&s, e, &m->end) || s >= e || *s++ != ' ' || e - s < 4)
		return false;
	m->prot = (s[0] == 'r' ? PROT_READ : 0) |
		  (s[1] == 'w' ? PROT_WRITE : 0) |
		  (s[2] == 'x' ? PROT_EXEC : 0);
	s = skip_fields(s, e, 3); /* perms, offset, dev */
	m->inode = 0;
	while (s < e && *s >= '0' && *s <= '9')
		m->inode = m->inode * 10 + (unsigned long)(*s++ - '0');
	while (s < e && *s == ' ')
		s++;
	m->path = s;
	m->path_len = (size_t)(e - s);
	return true;
}

int umnp_self_proc_lines(const char *path,
			 bool (*cb)(const char *line, const char *end,
				    void *arg),
			 void *arg)
{
	char buf[4096];
	size_t have = 0;
	bool eof = false;
	int err = 0;
	long fd = umnp_self_raw3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC,
				 0);

	if (umnp_self_is_err(fd))
		return (int)fd;
	while (!eof || have) {
		char *nl;

		if (!eof && have < sizeof(buf)) {
			long n = umnp_self_raw3(SYS_read, fd, (long)(buf + have),
						(long)(sizeof(buf) - have));

			if (n == -EINTR)
				continue;
			if (n < 0 && !err)
				err = (int)n;
			if (n <= 0)
				eof = true;
			else
				have += (size_t)n;
		}
		nl = memchr(buf, '\n', have);
		if (!nl) {
			if (eof || have == sizeof(buf))
				break; /* a truncated last line, or too long */
			continue;
		}
		if (cb(buf, nl, arg))
			break;
		have -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, have);
	}
	umnp_self_raw3(SYS_close, fd, 0, 0);
	return err;
}

bool umnp_self_status_mask(const char *line, const char *end,
			   const char *key, uint64_t *mask)
{
	size_t n = strlen(key);
	unsigned long v;
	const char *p = line + n;

	if ((size_t)(end - line) < n || memcmp(line, key, n))
		return false;
	while (p < end && (*p == '\t' || *p == ' '))
		p++;
	/* all 64 signals: exactly 16 digits, then the line's end */
	if (end - p != 16 || !parse_hex(&p, end, &v) || p != end)
		return false;
	*mask = v;
	return true;
}

/* umnp_self_maps_each's line: parsed, then the caller's callback. */
struct maps_each_arg {
	bool (*cb)(const struct umnp_self_map *m, void *arg);
	void *arg;
};

static bool maps_line(const char *line, const char *end, void *arg)
{
	struct maps_each_arg *a = arg;
	struct umnp_self_map m;

	return parse_line(line, end, &m) && a->cb(&m, a->arg);
}

int umnp_self_maps_each(bool (*cb)(const struct umnp_self_map *m, void *arg),
			void *arg)
{
	struct maps_each_arg a = { .cb = cb, .arg = arg };

	return umnp_self_proc_lines("/proc/self/maps", maps_line, &a);
}
