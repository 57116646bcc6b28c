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
#include <elf.h>
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
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
#include <time.h>
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
static unsigned long lost;    /* records not sent: reported with "L" */
static bool tool_gone;        /* the tool has stopped: drop records */
static char self_path[PATH_MAX]; /* this library, for the exec check */

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

static bool send_all(int fd, const struct buf *b)
{
	ssize_t n;

	do
		n = send(fd, b->s, b->n, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)b->n;
}

static void put_end(struct buf *b)
{
	b->s[b->n++] = '\n';
}

/* Report (and reset) the records that could not be sent, on fd. */
static void send_lost(int fd)
{
	unsigned long n = __atomic_exchange_n(&lost, 0, __ATOMIC_RELAXED);
	struct buf b;

	if (!n)
		return;
	b.n = 0;
	put_str(&b, "L ");
	put_dec(&b, (unsigned long)getpid());
	put_str(&b, " ");
	put_dec(&b, n);
	put_end(&b);
	if (!send_all(fd, &b))
		__atomic_fetch_add(&lost, n, __ATOMIC_RELAXED);
}

/*
 * The connection failed: the program closed our descriptor (close_range,
 * closefrom, a loop over close) or reused its number.  Connect again, say
 * so ("C"), and return the new descriptor; -1 if the tool cannot be
 * reached (then the record is counted lost, or dropped silently when the
 * tool is gone: it has stopped and nobody reads).  Threads may race here:
 * one connection wins, the others close theirs.  The old number is never
 * closed: it may be the program's now.
 */
static int reconnect(int old)
{
	int fd, cur = old;
	struct buf b;

	if (__atomic_load_n(&tool_gone, __ATOMIC_RELAXED))
		return -1;
	fd = connect_tool(-1);
	if (fd < 0) {
		if (errno == ECONNREFUSED || errno == ENOENT)
			__atomic_store_n(&tool_gone, true, __ATOMIC_RELAXED);
		return -1;
	}
	if (!__atomic_compare_exchange_n(&out_fd, &cur, fd, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		close(fd);
		return cur; /* another thread reconnected first */
	}
	b.n = 0;
	put_str(&b, "C ");
	put_dec(&b, (unsigned long)getpid());
	put_end(&b);
	send_all(fd, &b);
	return fd;
}

static void emit(struct buf *b)
{
	int saved = errno, fd;
	ssize_t n;

	put_end(b);
	if (!to_tool) {
		do
			n = write(2, b->s, b->n);
		while (n < 0 && errno == EINTR);
		errno = saved;
		return;
	}
	fd = __atomic_load_n(&out_fd, __ATOMIC_ACQUIRE);
	if (!send_all(fd, b)) {
		fd = reconnect(fd);
		if (fd < 0 || !send_all(fd, b)) {
			if (!__atomic_load_n(&tool_gone, __ATOMIC_RELAXED))
				__atomic_fetch_add(&lost, 1, __ATOMIC_RELAXED);
			errno = saved;
			return;
		}
	}
	if (__atomic_load_n(&lost, __ATOMIC_RELAXED))
		send_lost(fd);
	errno = saved;
}

static unsigned long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call */
	return (unsigned long)ts.tv_sec * 1000000000ul +
	       (unsigned long)ts.tv_nsec;
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
		put_str(&b, " ");
		put_dec(&b, now_ns());
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

/* The summary counts threads: each pthread_create that succeeds is one.
 * libumn's umn__self_pthread_create calls libc's, and with the safety net
 * on (UMN_SELF_SUD=1) the thread arms it before start runs. */
__attribute__((visibility("default")))
int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
		   void *(*start)(void *), void *arg)
{
	struct buf b;
	int ret;

	ret = umn__self_pthread_create(thread, attr, start, arg);
	if (ret == 0 && to_tool) {
		b.n = 0;
		put_str(&b, "T ");
		put_dec(&b, (unsigned long)getpid());
		emit(&b);
	}
	return ret;
}

/* libc's clone(): with the safety net on the child arms it before fn
 * (libumn's umn__self_clone; not counted as a thread in the summary). */
__attribute__((visibility("default")))
int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	pid_t *ptid, *ctid;
	void *tls;
	va_list ap;

	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);
	return umn__self_clone(fn, stack, flags, arg, ptid, tls, ctid);
}

/* ---- exec: images the preload cannot reach -------------------------------- */

/*
 * A program exec'd from a traced process is traced only if the preload
 * is loaded there: it must be dynamically linked for this machine and its
 * environment must still name this library in LD_PRELOAD.  Otherwise its
 * calls would go unobserved without a word: the exec wrappers below check
 * the image first and send "U <pid> <why> <path>" (see ../proto.h).  Only
 * system calls, no allocation: these run between vfork and exec too.
 */
static int classify_fd(int fd, int depth)
{
	unsigned char h[256];
	ssize_t n = pread(fd, h, sizeof(h) - 1, 0);
	Elf64_Ehdr eh;
	int i;

	if (n >= 2 && h[0] == '#' && h[1] == '!' && depth == 0) {
		char interp[PATH_MAX];
		size_t k = 2, j = 0;
		int ifd, kind;

		while (k < (size_t)n && (h[k] == ' ' || h[k] == '\t'))
			k++;
		while (k < (size_t)n && h[k] != ' ' && h[k] != '\t' &&
		       h[k] != '\n' && j + 1 < sizeof(interp))
			interp[j++] = (char)h[k++];
		interp[j] = 0;
		ifd = j ? open(interp, O_RDONLY | O_CLOEXEC) : -1;
		if (ifd < 0)
			return 0;
		kind = classify_fd(ifd, 1);
		close(ifd);
		return kind;
	}
	if (n < (ssize_t)sizeof(eh) || memcmp(h, ELFMAG, SELFMAG) != 0)
		return 0; /* not ELF: exec decides */
	memcpy(&eh, h, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
#if defined(__x86_64__)
	    eh.e_machine != EM_X86_64
#elif defined(__aarch64__)
	    eh.e_machine != EM_AARCH64
#else
	    0
#endif
	    )
		return 2; /* another architecture */
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 4096)
		return 0;
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff +
			  (size_t)i * sizeof(ph))) != (ssize_t)sizeof(ph))
			return 0;
		if (ph.p_type == PT_INTERP)
			return 0;
	}
	return 1; /* statically linked */
}

static bool env_has_preload(char *const envp[])
{
	size_t i;

	if (!envp)
		return false;
	for (i = 0; envp[i]; i++)
		if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0)
			return self_path[0] && strstr(envp[i] + 11, self_path);
	return false;
}

static void check_exec(const char *path, char *const envp[])
{
	static const char *const why[] = { NULL, "static", "foreign" };
	struct buf b;
	int fd, kind;

	if (!to_tool || !path)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* exec will fail the same way */
	kind = classify_fd(fd, 0);
	close(fd);
	if (!kind && env_has_preload(envp))
		return;
	b.n = 0;
	put_str(&b, "U ");
	put_dec(&b, (unsigned long)getpid());
	put_str(&b, " ");
	put_str(&b, kind ? why[kind] : "nopreload");
	put_str(&b, " ");
	put_str(&b, path);
	emit(&b);
}

/* execvp's search: the first executable PATH entry, into buf. */
static const char *search_path(const char *file, char *buf, size_t len)
{
	const char *p = getenv("PATH");

	if (!file || !*file || strchr(file, '/'))
		return file;
	if (!p)
		p = "/bin:/usr/bin";
	for (;;) {
		const char *c = strchr(p, ':');
		size_t dl = c ? (size_t)(c - p) : strlen(p);
		size_t fl = strlen(file);

		if (dl + fl + 2 <= len) {
			memcpy(buf, dl ? p : ".", dl ? dl : 1);
			dl = dl ? dl : 1;
			buf[dl] = '/';
			memcpy(buf + dl + 1, file, fl + 1);
			if (access(buf, X_OK) == 0)
				return buf;
		}
		if (!c)
			return NULL;
		p = c + 1;
	}
}

#define REAL(name, type)                                                    \
	static type real_##name;                                            \
	if (!real_##name)                                                   \
		real_##name = (type)dlsym(RTLD_NEXT, #name);                \
	if (!real_##name) {                                                 \
		errno = ENOSYS;                                             \
		return -1;                                                  \
	}

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*spawn_fn)(pid_t *, const char *,
			const posix_spawn_file_actions_t *,
			const posix_spawnattr_t *, char *const[], char *const[]);

__attribute__((visibility("default")))
int execve(const char *path, char *const argv[], char *const envp[])
{
	REAL(execve, execve_fn);
	check_exec(path, envp);
	return real_execve(path, argv, envp);
}

__attribute__((visibility("default")))
int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

__attribute__((visibility("default")))
int execvpe(const char *file, char *const argv[], char *const envp[])
{
	char buf[PATH_MAX];

	REAL(execvpe, execvpe_fn);
	check_exec(search_path(file, buf, sizeof(buf)), envp);
	return real_execvpe(file, argv, envp);
}

__attribute__((visibility("default")))
int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* execl, execle, execlp: collect the arguments (on the stack) */
#define MAX_LARGS 4096
#define COLLECT_ARGS(first, ap, args, n)                                    \
	do {                                                                \
		args[0] = (char *)(first);                                  \
		for (n = 1; args[n - 1] && n < MAX_LARGS; n++)              \
			args[n] = va_arg(ap, char *);                       \
		if (args[n - 1]) {                                          \
			errno = E2BIG;                                      \
			va_end(ap);                                         \
			return -1;                                          \
		}                                                           \
	} while (0)

__attribute__((visibility("default")))
int execl(const char *path, const char *arg, ...)
{
	char *args[MAX_LARGS];
	va_list ap;
	int n;

	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, args, n);
	va_end(ap);
	return execve(path, args, environ);
}

__attribute__((visibility("default")))
int execle(const char *path, const char *arg, ...)
{
	char *args[MAX_LARGS];
	char *const *envp;
	va_list ap;
	int n;

	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, args, n);
	envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, args, envp);
}

__attribute__((visibility("default")))
int execlp(const char *file, const char *arg, ...)
{
	char *args[MAX_LARGS];
	va_list ap;
	int n;

	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, args, n);
	va_end(ap);
	return execvpe(file, args, environ);
}

__attribute__((visibility("default")))
int posix_spawn(pid_t *pid, const char *path,
		const posix_spawn_file_actions_t *fa,
		const posix_spawnattr_t *attr, char *const argv[],
		char *const envp[])
{
	REAL(posix_spawn, spawn_fn);
	check_exec(path, envp);
	return real_posix_spawn(pid, path, fa, attr, argv, envp);
}

__attribute__((visibility("default")))
int posix_spawnp(pid_t *pid, const char *file,
		 const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[],
		 char *const envp[])
{
	char buf[PATH_MAX];

	REAL(posix_spawnp, spawn_fn);
	check_exec(search_path(file, buf, sizeof(buf)), envp);
	return real_posix_spawnp(pid, file, fa, attr, argv, envp);
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

static void find_self(void)
{
	Dl_info info;

	if (dladdr((void *)find_self, &info) && info.dli_fname &&
	    strlen(info.dli_fname) < sizeof(self_path))
		strcpy(self_path, info.dli_fname);
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
	else
		find_self();
	subscribe();
	pthread_atfork(NULL, NULL, atfork_child);
}

/* Records that could not be sent: one more try, or say so on stderr. */
__attribute__((destructor)) static void umn_trace_fini(void)
{
	unsigned long n = __atomic_load_n(&lost, __ATOMIC_RELAXED);
	struct buf b;
	int fd;

	if (!n || !to_tool || __atomic_load_n(&tool_gone, __ATOMIC_RELAXED))
		return;
	fd = reconnect(__atomic_load_n(&out_fd, __ATOMIC_ACQUIRE));
	if (fd >= 0)
		send_lost(fd);
	n = __atomic_load_n(&lost, __ATOMIC_RELAXED);
	if (!n || __atomic_load_n(&tool_gone, __ATOMIC_RELAXED))
		return;
	b.n = 0;
	put_str(&b, "umn-trace: pid ");
	put_dec(&b, (unsigned long)getpid());
	put_str(&b, ": ");
	put_dec(&b, n);
	put_str(&b, " invalidation records lost: umn trace could not be reached\n");
	if (write(2, b.s, b.n) < 0)
		return;
}
