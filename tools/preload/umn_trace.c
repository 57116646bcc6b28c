/* SPDX-License-Identifier: MIT */
/*
 * libumn-trace.so: loaded into every process `umn trace` runs (LD_PRELOAD).
 * Its constructor subscribes to the whole of umn_mm_self() -- a classic
 * subscription (invalidate_range_start), or with UMN_TRACE_MODE=interval an
 * interval subscription over [0, ULONG_MAX - 1] -- and reports every
 * invalidation to the tool (see ../proto.h), before the real call runs.
 *
 * The callback may run inside free() holding glibc's arena lock, inside a
 * signal handler, or in umn's hook with signals blocked: it never
 * allocates, takes no lock and uses no stdio.  It formats into a stack
 * buffer and sends one message per record on a SOCK_SEQPACKET connection
 * (one send(2): atomic, never interleaved with other threads' records;
 * send on a descriptor the program may have closed and reused for a file
 * fails with ENOTSOCK instead of writing into the file).
 *
 * Without UMN_TRACE_SOCK (LD_PRELOAD by hand) it writes readable lines to
 * standard error instead.  A fork child gets a fresh umn_mm_self() without
 * subscriptions: the atfork handler reconnects and subscribes again.
 *
 * Exported symbols: the interposed calls only (see umn_trace.map).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <umn/umn.h>

#include "../proto.h"

static int out_fd = -1;       /* connection to the tool, or 2 */
static bool to_tool;
static bool use_interval;
static struct sockaddr_un tool_addr;
static socklen_t tool_addr_len;
static struct umn_notifier classic_sub;
static struct umn_interval_notifier interval_sub;

/* ---- formatting without libc's stdio ------------------------------------ */

struct buf {
	char s[UMN_TRACE_MAX_RECORD];
	size_t n;
};

static void put_str(struct buf *b, const char *s)
{
	while (*s && b->n < sizeof(b->s) - 1)
		b->s[b->n++] = *s++;
}

static void put_dec(struct buf *b, unsigned long v)
{
	char tmp[24];
	int i = 0;

	do
		tmp[i++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (i > 0 && b->n < sizeof(b->s) - 1)
		b->s[b->n++] = tmp[--i];
}

static void put_hex(struct buf *b, unsigned long v, int width)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[20];
	int i = 0;

	do
		tmp[i++] = digits[v & 15];
	while ((v >>= 4) != 0 || i < width);
	while (i > 0 && b->n < sizeof(b->s) - 1)
		b->s[b->n++] = tmp[--i];
}

static const char *const event_names[] = {
	"unmap", "clear", "protection_vma", "protection_page", "soft_dirty",
	"release", "migrate", "exclusive",
};
static const char *const origin_names[] = {
	"primary", "patch", "interpose", "uffd", "explicit",
};

/* ---- the connection ------------------------------------------------------ */

/* Keep our descriptor out of the program's way: as high as allowed. */
static int move_high(int fd)
{
	struct rlimit rl;
	long hi = 1000;
	int nfd;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (long)rl.rlim_cur - 16 < hi)
		hi = (long)rl.rlim_cur - 16;
	if (hi <= fd)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, (int)hi);
	if (nfd < 0)
		return fd;
	close(fd);
	return nfd;
}

/* Connect to the tool; with reuse >= 0 the new connection takes that
 * descriptor number (fork child: replaces the parent's connection). */
static int connect_tool(int reuse)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&tool_addr, tool_addr_len) != 0) {
		close(fd);
		return -1;
	}
	if (reuse >= 0) {
		if (dup3(fd, reuse, O_CLOEXEC) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
		return reuse;
	}
	return move_high(fd);
}

static void emit(struct buf *b)
{
	ssize_t n;
	int saved = errno;

	b->s[b->n++] = '\n';
	if (to_tool) {
		do
			n = send(out_fd, b->s, b->n, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
	} else {
		do
			n = write(2, b->s, b->n);
		while (n < 0 && errno == EINTR);
	}
	errno = saved;
}

static void report(const struct umn_notifier_range *r)
{
	struct buf b;

	b.n = 0;
	if (to_tool) {
		put_str(&b, "E ");
		put_dec(&b, (unsigned long)getpid());
		put_str(&b, " ");
		put_dec(&b, (unsigned long)gettid());
		put_str(&b, " ");
		put_dec(&b, (unsigned long)r->event);
		put_str(&b, " ");
		put_dec(&b, r->origin);
		put_str(&b, " ");
		put_hex(&b, r->start, 1);
		put_str(&b, " ");
		put_hex(&b, r->end, 1);
		put_str(&b, " ");
		put_hex(&b, r->flags, 1);
	} else {
		put_str(&b, "umn-trace: ");
		put_dec(&b, (unsigned long)getpid());
		put_str(&b, "/");
		put_dec(&b, (unsigned long)gettid());
		put_str(&b, " ");
		put_str(&b, (unsigned int)r->event < 8 ? event_names[r->event] : "?");
		put_str(&b, " 0x");
		put_hex(&b, r->start, 1);
		put_str(&b, "-0x");
		put_hex(&b, r->end, 1);
		put_str(&b, " ");
		put_dec(&b, r->end - r->start);
		put_str(&b, " bytes ");
		put_str(&b, r->origin < 5 ? origin_names[r->origin] : "?");
	}
	emit(&b);
}

/* ---- threads ---------------------------------------------------------------- */

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *,
				 void *(*)(void *), void *);

/* The summary counts threads: each pthread_create that succeeds is one. */
__attribute__((visibility("default")))
int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
		   void *(*start)(void *), void *arg)
{
	static pthread_create_fn real;
	struct buf b;
	int ret;

	if (!real)
		real = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
	if (!real)
		return EAGAIN;
	ret = real(thread, attr, start, arg);
	if (ret == 0 && to_tool) {
		b.n = 0;
		put_str(&b, "T ");
		put_dec(&b, (unsigned long)getpid());
		emit(&b);
	}
	return ret;
}

/* ---- the subscriptions --------------------------------------------------- */

static int on_start(struct umn_notifier *sub,
		    const struct umn_notifier_range *range)
{
	(void)sub;
	report(range);
	return 0;
}

static const struct umn_notifier_ops classic_ops = {
	.invalidate_range_start = on_start,
};

static bool on_invalidate(struct umn_interval_notifier *sub,
			  const struct umn_notifier_range *range,
			  unsigned long cur_seq)
{
	umn_interval_set_seq(sub, cur_seq);
	report(range);
	return true;
}

static const struct umn_interval_notifier_ops interval_ops = {
	.invalidate = on_invalidate,
};

static void send_failure(int err, const char *what)
{
	struct buf b;

	b.n = 0;
	put_str(&b, to_tool ? "F " : "umn-trace: ");
	put_dec(&b, (unsigned long)getpid());
	put_str(&b, to_tool ? " " : ": ");
	put_str(&b, what);
	put_str(&b, ": ");
	put_str(&b, strerror(err));
	emit(&b);
}

static void send_ready(void)
{
	unsigned char *token = (unsigned char *)getauxval(AT_RANDOM);
	unsigned int sources = umn_self_sources();
	char exe[256];
	ssize_t n;
	struct buf b;
	int i;

	if (!to_tool)
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	b.n = 0;
	put_str(&b, "R ");
	put_dec(&b, (unsigned long)getpid());
	put_str(&b, " ");
	put_dec(&b, (unsigned long)getppid());
	put_str(&b, " ");
	for (i = 0; i < UMN_TRACE_TOKEN_BYTES; i++)
		put_hex(&b, token ? token[i] : 0, 2);
	put_str(&b, " ");
	put_hex(&b, sources, 1);
	put_str(&b, use_interval ? " interval " : " classic ");
	put_str(&b, exe);
	emit(&b);
}

static void subscribe(void)
{
	struct umn_mm *mm = umn_mm_self();
	int ret;

	if (!mm) {
		send_failure(errno, "umn_mm_self");
		return;
	}
	if (use_interval) {
		memset(&interval_sub, 0, sizeof(interval_sub));
		ret = umn_interval_notifier_insert(&interval_sub, mm, 0,
						   ULONG_MAX, &interval_ops);
	} else {
		memset(&classic_sub, 0, sizeof(classic_sub));
		classic_sub.ops = &classic_ops;
		ret = umn_notifier_register(&classic_sub, mm);
	}
	if (ret) {
		send_failure(-ret, use_interval ? "umn_interval_notifier_insert"
						: "umn_notifier_register");
		return;
	}
	send_ready();
}

static void atfork_child(void)
{
	/* umn's own child handler (registered before ours) has given the
	 * child a fresh address space without subscriptions */
	if (to_tool && connect_tool(out_fd) < 0)
		to_tool = false, out_fd = 2;
	subscribe();
}

__attribute__((constructor)) static void umn_trace_init(void)
{
	const char *name = getenv(UMN_TRACE_ENV_SOCK);
	const char *mode = getenv(UMN_TRACE_ENV_MODE);

	use_interval = mode && strcmp(mode, "interval") == 0;
	if (name && *name && strlen(name) < sizeof(tool_addr.sun_path) - 1) {
		memset(&tool_addr, 0, sizeof(tool_addr));
		tool_addr.sun_family = AF_UNIX;
		memcpy(tool_addr.sun_path + 1, name, strlen(name));
		tool_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
					    1 + strlen(name));
		out_fd = connect_tool(-1);
		to_tool = out_fd >= 0;
	}
	if (!to_tool)
		out_fd = 2;
	subscribe();
	pthread_atfork(NULL, NULL, atfork_child);
}
