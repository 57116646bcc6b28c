/* SPDX-License-Identifier: MIT */
/*
 * umn trace: run CMD with libumn-trace.so preloaded, collect the records
 * every traced process sends (children and exec'd programs too: LD_PRELOAD
 * and UMN_TRACE_SOCK are inherited, and each process connects on its own),
 * print one line per invalidation and the summary at the end.  With
 * --audit the child also runs under the seccomp supervisor of audit.c.
 *
 * The tool is a child subreaper: it returns when CMD and every descendant
 * have exited (orphans are reaped here, no zombie is left behind).  It
 * creates no file except -o FILE: the socket is abstract.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "tool.h"

extern char **environ;

#ifndef UMN_TOOL_LIBDIR
#define UMN_TOOL_LIBDIR "lib"
#endif
#define PRELOAD_NAME "libumn-trace.so"

static bool readable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, R_OK) == 0;
}

int find_preload(char *buf, size_t len)
{
	const char *env = getenv(UMN_TRACE_ENV_LIB);
	char self[PATH_MAX], *slash;
	const char *const patterns[] = {
		"/" PRELOAD_NAME,
		"/../" UMN_TOOL_LIBDIR "/" PRELOAD_NAME,
		"/../lib*/" PRELOAD_NAME,
		"/../lib*/*/" PRELOAD_NAME,
	};
	ssize_t n;
	size_t i;

	if (env && *env) {
		if (env[0] != '/' || !readable(env) || strlen(env) >= len) {
			tool_error("%s=%s: not a readable absolute path",
				   UMN_TRACE_ENV_LIB, env);
			return -1;
		}
		strcpy(buf, env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		tool_error("cannot find my own path: %s", strerror(errno));
		return -1;
	}
	self[n] = 0;
	slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		char pat[PATH_MAX + 64];
		glob_t g;

		snprintf(pat, sizeof(pat), "%s%s", self, patterns[i]);
		if (glob(pat, GLOB_NOSORT, NULL, &g) == 0) {
			size_t k;

			for (k = 0; k < g.gl_pathc; k++) {
				if (readable(g.gl_pathv[k]) &&
				    realpath(g.gl_pathv[k], buf) &&
				    strlen(buf) < len) {
					globfree(&g);
					return 0;
				}
			}
			globfree(&g);
		}
	}
	tool_error("cannot find %s next to %s or in ../lib*/ (set %s)",
		   PRELOAD_NAME, self, UMN_TRACE_ENV_LIB);
	return -1;
}

/* ---- the event stream ---------------------------------------------------- */

static struct trace_state {
	const struct trace_opts *opts;
	FILE *out;
	int lsock;          /* listening socket */
	int *conns;
	int *conn_pid;      /* the process on each connection, 0 unknown */
	size_t nconns, capconns;
	bool header;
	unsigned long records;
	unsigned long t0;   /* CLOCK_MONOTONIC ns when the tool started */
} st;

static unsigned long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000000000ul +
	       (unsigned long)ts.tv_nsec;
}

/* ---- output: text lines, or one JSON object per line (--json) ------------ */

void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A message of the tool: "umn: TEXT", or {"type":"message","text":TEXT}. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (st.opts->json) {
		fputs("{\"type\":\"message\",\"text\":", st.out);
		json_string(st.out, buf);
		fputs("}\n", st.out);
	} else {
		fprintf(st.out, "umn: %s\n", buf);
	}
}

static unsigned long rel_ns(unsigned long t)
{
	return t > st.t0 ? t - st.t0 : 0;
}

static void print_header(void)
{
	if (st.opts->json)
		return;
	if (st.header || st.opts->quiet)
		return;
	st.header = true;
	fprintf(st.out, "umn: %7s %7s  %-15s %-18s %-18s %7s  %s\n", "PID",
		"TID", "EVENT", "START", "END", "SIZE", "SOURCE");
}

static const char *loss_reason(const char *why)
{
	if (!strcmp(why, "static"))
		return "statically linked: no preload can be loaded there";
	if (!strcmp(why, "foreign"))
		return "another architecture: the preload cannot be loaded there";
	return "its environment does not preload libumn-trace.so";
}

static void handle_record(char *rec)
{
	int pid, ppid, tid;
	unsigned int event, origin, sources;
	unsigned long start, end, flags, t = 0;
	char token_hex[2 * UMN_TRACE_TOKEN_BYTES + 1], mode[16];
	int n = 0;

	st.records++;
	switch (rec[0]) {
	case 'E':
		if (sscanf(rec, "E %d %d %u %u %lx %lx %lx %lu", &pid, &tid,
			   &event, &origin, &start, &end, &flags, &t) < 7)
			break;
		summary_event(pid, tid, event, origin, start, end);
		if (st.opts->audit)
			audit_event(pid, tid, event, origin, start, end);
		if (st.opts->svg_path)
			svg_event(rel_ns(t), pid, event, start, end);
		if (st.opts->json && !st.opts->quiet) {
			fprintf(st.out, "{\"type\":\"event\",\"time_ns\":%lu,"
				"\"pid\":%d,\"tid\":%d,\"event\":\"%s\","
				"\"start\":\"%#lx\",\"end\":\"%#lx\","
				"\"size\":%lu,\"source\":\"%s\",\"flags\":%lu}\n",
				rel_ns(t), pid, tid, event_name(event), start,
				end, end > start ? end - start : 0,
				origin_name(origin), flags);
		} else if (!st.opts->quiet) {
			char sz[32];

			print_header();
			format_size(sz, sizeof(sz),
				    end > start ? end - start : 0);
			fprintf(st.out, "umn: %7d %7d  %-15s %#-18lx %#-18lx %7s  %s\n",
				pid, tid, event_name(event), start, end, sz,
				origin_name(origin));
		}
		return;
	case 'R': {
		unsigned char token[UMN_TRACE_TOKEN_BYTES];
		int i;

		if (sscanf(rec, "R %d %d %32s %x %15s %n", &pid, &ppid,
			   token_hex, &sources, mode, &n) < 5 ||
		    strlen(token_hex) != 2 * UMN_TRACE_TOKEN_BYTES)
			break;
		for (i = 0; i < UMN_TRACE_TOKEN_BYTES; i++) {
			unsigned int b;

			sscanf(token_hex + 2 * i, "%2x", &b);
			token[i] = (unsigned char)b;
		}
		summary_process(pid);
		if (st.opts->audit)
			audit_ready(pid, token);
		if (st.opts->svg_path)
			svg_process(pid);
		if (st.opts->json && !st.opts->quiet) {
			fprintf(st.out, "{\"type\":\"process\",\"time_ns\":%lu,"
				"\"pid\":%d,\"ppid\":%d,\"sources\":\"%s%s%s\","
				"\"mode\":\"%s\",\"exe\":", rel_ns(now_ns()),
				pid, ppid, (sources & 1) ? "patch" : "",
				(sources & 3) == 3 ? "+" : "",
				(sources & 2) ? "interpose" : "", mode);
			json_string(st.out, n ? rec + n : "?");
			fputs("}\n", st.out);
		} else if (!st.opts->quiet)
			note("process %d (parent %d) traced: %s [sources %s%s%s, %s]",
			     pid, ppid, n ? rec + n : "?",
			     (sources & 1) ? "patch" : "",
			     (sources & 3) == 3 ? "+" : "",
			     (sources & 2) ? "interpose" : "", mode);
		return;
	}
	case 'F':
		note("process %s", rec + 2);
		return;
	case 'T':
		if (sscanf(rec, "T %d", &pid) != 1)
			break;
		summary_thread(pid);
		return;
	case 'C':
		if (sscanf(rec, "C %d", &pid) != 1)
			break;
		summary_loss(LOSS_RECONNECT, pid, 1, NULL);
		return;
	case 'L': {
		unsigned long lost;

		if (sscanf(rec, "L %d %lu", &pid, &lost) != 2)
			break;
		summary_loss(LOSS_RECORDS, pid, lost, NULL);
		if (!st.opts->quiet)
			note("process %d: %lu records LOST "
				"(umn trace could not be reached)", pid, lost);
		return;
	}
	case 'U': {
		char why[16];

		if (sscanf(rec, "U %d %15s %n", &pid, why, &n) < 2 || !n)
			break;
		summary_loss(!strcmp(why, "static") ? LOSS_STATIC :
			     !strcmp(why, "foreign") ? LOSS_FOREIGN :
			     LOSS_NOPRELOAD, pid, 1, rec + n);
		if (!st.opts->quiet)
			note("process %d runs %s: NOT OBSERVED "
				"(%s)", pid, rec + n, loss_reason(why));
		return;
	}
	}
	note("bad record from the preload: %.80s", rec);
}

static void accept_all(void)
{
	for (;;) {
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		int fd = accept4(st.lsock, NULL, NULL,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		/* only our own processes may feed the trace */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
		    (geteuid() != 0 && cred.uid != geteuid())) {
			close(fd);
			continue;
		}
		if (st.nconns == st.capconns) {
			size_t ncap = st.capconns ? st.capconns * 2 : 16;
			int *p = realloc(st.conns, ncap * sizeof(*p));
			int *q;

			if (!p) {
				close(fd);
				return;
			}
			st.conns = p;
			q = realloc(st.conn_pid, ncap * sizeof(*q));
			if (!q) {
				close(fd);
				return;
			}
			st.conn_pid = q;
			st.capconns = ncap;
		}
		st.conn_pid[st.nconns] = 0;
		st.conns[st.nconns++] = fd;
	}
}

/* Records read since the main loop last polled the connections. */
static unsigned long records_read;

/*
 * After records came, the main loop leaves the connections out of its next
 * poll for up to NAP_MS: a sender whose reader is not waiting on the
 * socket queues its record without waking anyone.  Waking the tool at
 * every record cost more than the record itself: a context switch per
 * event, the program preempted and moved between CPUs, and every later
 * munmap of the program then flushed the TLB of both (git log -p, 3 500
 * unmaps: about 2x its run time).  The audit's notifications, signals and
 * new connections are still polled, and the records are read at the end of
 * the nap (a full socket blocks the sender until then).
 */
#define NAP_MS 2

/* Read what is queued on connection i; close it at EOF.  Returns false
 * when the connection was closed (index i now holds another). */
static bool drain_conn(size_t i)
{
	char buf[UMN_TRACE_MAX_RECORD + 1];

	for (;;) {
		ssize_t n = recv(st.conns[i], buf, sizeof(buf) - 1,
				 MSG_DONTWAIT);

		if (n > 0) {
			buf[n] = 0;
			if (buf[n - 1] == '\n')
				buf[n - 1] = 0;
			if (st.conn_pid[i] <= 0)
				sscanf(buf, "%*c %d", &st.conn_pid[i]);
			handle_record(buf);
			records_read++;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		close(st.conns[i]);
		--st.nconns;
		st.conns[i] = st.conns[st.nconns];
		st.conn_pid[i] = st.conn_pid[st.nconns];
		return false;
	}
}

/* Read everything queued on every connection; close those at EOF. */
static void drain(void)
{
	size_t i;

	accept_all();
	for (i = 0; i < st.nconns;)
		if (drain_conn(i))
			i++;
}

/* Read what process pid has sent (pid < 0, or none of its connections
 * known yet: everything). */
static void drain_pid(int pid)
{
	bool found = false;
	size_t i;

	if (pid > 0) {
		for (i = 0; i < st.nconns;) {
			if (st.conn_pid[i] != pid) {
				i++;
				continue;
			}
			found = true;
			if (drain_conn(i))
				i++;
		}
	}
	if (!found)
		drain();
}

/* ---- running the command -------------------------------------------------- */

/*
 * CMD has exited and the tool was told to stop while processes it left
 * behind (orphans reparented to us, the subreaper) still run.  They are
 * not killed (a daemon is meant to outlive its command); the trace says
 * they are not waited for: what they do from now on is not recorded.
 */
static void report_left_running(int sig)
{
	char line[512], path[64], list[256] = "";
	unsigned long n = 0;
	size_t used = 0;
	pid_t self = getpid();
	glob_t g;
	size_t i;

	if (glob("/proc/[0-9]*/stat", GLOB_NOSORT, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++) {
			FILE *f = fopen(g.gl_pathv[i], "re");
			char *rp;
			int pid, ppid;

			if (!f)
				continue;
			if (!fgets(line, sizeof(line), f)) {
				fclose(f);
				continue;
			}
			fclose(f);
			rp = strrchr(line, ')');
			if (!rp || sscanf(line, "%d", &pid) != 1 ||
			    sscanf(rp + 1, " %*c %d", &ppid) != 1 ||
			    ppid != self)
				continue;
			n++;
			snprintf(path, sizeof(path), "%s%d", used ? " " : "", pid);
			if (used + strlen(path) + 4 < sizeof(list)) {
				strcat(list, path);
				used += strlen(path);
			}
		}
		globfree(&g);
	}
	note("stopped by %s after CMD exited: %lu process%s "
		"it left behind still running%s%s%s, not waited for; their "
		"later invalidations are not in this trace",
		strsignal(sig), n, n == 1 ? "" : "es", n ? " (pid " : "", list,
		n ? ")" : "");
}

#if defined(__SANITIZE_ADDRESS__)
/*
 * A sanitizer build (UMN_SANITIZE=address,...): the preload is
 * instrumented too, and AddressSanitizer's runtime must be the first
 * library of every process it is loaded in.  Preload the runtime first,
 * and keep LeakSanitizer out of CMD (programs like sh leave memory at
 * exit by design); the tool itself keeps it.  Only in such builds: an
 * ordinary build changes nothing.
 */
#include <dlfcn.h>
extern void __asan_init(void) __attribute__((weak));

static const char *sanitizer_runtime(void)
{
	static char path[PATH_MAX];
	Dl_info info;

	if (!path[0] && __asan_init && dladdr((void *)__asan_init, &info) &&
	    info.dli_fname && strlen(info.dli_fname) < sizeof(path))
		strcpy(path, info.dli_fname);
	return path[0] ? path : NULL;
}
#else
static const char *sanitizer_runtime(void)
{
	return NULL;
}
#endif

/* CMD's environment; *owned: the index of its first entry made here (the
 * ones before are environ's).  Free with free_env(). */
static char **build_env(const char *lib, const char *sockname, bool interval,
			size_t *owned)
{
	size_t n = 0, i, k = 0;
	char **env;
	const char *old = getenv("LD_PRELOAD");

	while (environ[n])
		n++;
	env = calloc(n + 5, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++) {
		if (!strncmp(environ[i], "LD_PRELOAD=", 11) ||
		    (sanitizer_runtime() &&
		     !strncmp(environ[i], "ASAN_OPTIONS=", 13)) ||
		    !strncmp(environ[i], UMN_TRACE_ENV_SOCK "=",
			     sizeof(UMN_TRACE_ENV_SOCK)) ||
		    !strncmp(environ[i], UMN_TRACE_ENV_MODE "=",
			     sizeof(UMN_TRACE_ENV_MODE)))
			continue;
		env[k++] = environ[i];
	}
	*owned = k;
	if (lib) {
		const char *rt = sanitizer_runtime();
		size_t len = strlen(lib) + (old ? strlen(old) : 0) +
			     (rt ? strlen(rt) : 0) + 16;

		env[k] = malloc(len);
		if (!env[k])
			return NULL;
		snprintf(env[k++], len, "LD_PRELOAD=%s%s%s%s%s",
			 rt ? rt : "", rt ? ":" : "", lib,
			 old && *old ? ":" : "", old && *old ? old : "");
		if (rt) {
			const char *ao = getenv("ASAN_OPTIONS");

			if (asprintf(&env[k++], "ASAN_OPTIONS=%s%sdetect_leaks=0",
				     ao ? ao : "", ao && *ao ? ":" : "") < 0)
				return NULL;
		}
	}
	if (asprintf(&env[k++], "%s=%s", UMN_TRACE_ENV_SOCK, sockname) < 0 ||
	    asprintf(&env[k++], "%s=%s", UMN_TRACE_ENV_MODE,
		     interval ? "interval" : "classic") < 0)
		return NULL;
	env[k] = NULL;
	return env;
}

static void free_env(char **env, size_t owned)
{
	size_t i;

	if (!env)
		return;
	for (i = owned; env[i]; i++)
		free(env[i]);
	free(env);
}

static int open_listener(char *name, size_t len)
{
	struct sockaddr_un sa;
	unsigned int rnd = 0;
	socklen_t sl;
	int fd;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (unsigned int)getpid() * 2654435761u;
	snprintf(name, len, "umn-trace.%d.%08x", (int)getpid(), rnd);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, name, strlen(name)); /* abstract: no file */
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	if (bind(fd, (struct sockaddr *)&sa, sl) != 0 || listen(fd, 256) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static FILE *open_output(const char *path, bool *created, const char *opt)
{
	struct statfs sfs;
	int fd;
	FILE *f;

	*created = false;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd >= 0)
		*created = true;
	else if (errno == EEXIST)
		fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) {
		tool_error("%s %s: %s", opt, path, strerror(errno));
		return NULL;
	}
	if (fstatfs(fd, &sfs) == 0 &&
	    (sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC)) {
		/* these take a write or refuse it with EIO, never a trace */
		tool_error("%s %s: a kernel interface file of /proc or /sys "
			   "cannot hold the trace; give a regular file, a "
			   "pipe or /dev/null", opt, path);
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		if (*created)
			unlink(path);
	}
	return f;
}

int trace_run(const struct trace_opts *o)
{
	char path[PATH_MAX], lib[PATH_MAX], sockname[64], why[256];
	int ret, sfd = -1, listener = -1, sp[2] = { -1, -1 }, ep[2] = { -1, -1 };
	int status = 0, exec_errno = 0;
	bool created = false, main_done = false, static_mode = false;
	bool svg_created = false;
	FILE *svg = NULL;
	int stop_signal = 0;
	char **env = NULL;
	size_t env_owned = 0;
	sigset_t mask, oldmask;
	pid_t child;
	enum elf_kind kind;
	unsigned long missed = 0;

	memset(&st, 0, sizeof(st));
	st.opts = o;
	st.t0 = now_ns();
	st.lsock = -1;
	ret = resolve_command(o->argv[0], path, sizeof(path));
	if (ret)
		return ret;
	kind = elf_classify(path, why, sizeof(why));
	if (kind == ELF_STATIC || kind == ELF_FOREIGN) {
		if (!o->audit) {
			tool_error("%s: %s: a preload library cannot cover it "
				   "(umn is never loaded there); refusing. "
				   "Use --audit to see what it does unobserved.",
				   path, why);
			return EXIT_TOOL_ERROR;
		}
		fprintf(stderr, "umn: %s: %s: umn cannot be loaded there; "
			"audit-only mode: every call that changes a mapping "
			"will be reported missed\n", path, why);
		static_mode = true;
	}
	if (find_preload(lib, sizeof(lib)) != 0)
		return EXIT_TOOL_ERROR;

	if (o->out_path) {
		st.out = open_output(o->out_path, &created, "-o");
		if (!st.out)
			return EXIT_TOOL_ERROR;
	} else {
		st.out = stderr;
	}
	setvbuf(st.out, NULL, _IOFBF, 1 << 16);
	ret = EXIT_TOOL_ERROR;
	if (o->svg_path) {
		/* opened now: an unwritable FILE is said before CMD runs */
		svg = open_output(o->svg_path, &svg_created, "--svg");
		if (!svg)
			goto out;
	}

	st.lsock = open_listener(sockname, sizeof(sockname));
	if (st.lsock < 0) {
		tool_error("cannot create the trace socket: %s", strerror(errno));
		goto out;
	}
	env = build_env(lib, sockname, o->interval, &env_owned);
	if (!env) {
		tool_error("out of memory");
		goto out;
	}
	if (o->audit) {
		audit_init(o->verbose, static_mode, st.out);
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) != 0) {
			tool_error("socketpair: %s", strerror(errno));
			goto out;
		}
	}
	if (pipe2(ep, O_CLOEXEC) != 0) {
		tool_error("pipe: %s", strerror(errno));
		goto out;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, &oldmask);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		tool_error("signalfd: %s", strerror(errno));
		goto out_mask;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	fflush(st.out);
	fflush(stderr);

	child = fork();
	if (child < 0) {
		tool_error("fork: %s", strerror(errno));
		goto out_mask;
	}
	if (child == 0) {
		int err;

		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		close(ep[0]);
		if (o->audit) {
			close(sp[0]);
			err = audit_child_install(sp[1]);
			if (err < 0) {
				/* audit_child_install reported it through sp */
				_exit(EXIT_TOOL_ERROR);
			}
			close(sp[1]);
		}
		execve(path, o->argv, env);
		err = errno;
		if (write(ep[1], &err, sizeof(err)) < 0)
			_exit(EXIT_NOT_EXEC);
		_exit(err == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXEC);
	}
	close(ep[1]);
	ep[1] = -1;
	if (o->audit) {
		close(sp[1]);
		sp[1] = -1;
		listener = audit_receive_listener(sp[0]);
		close(sp[0]);
		sp[0] = -1;
		if (listener < 0) {
			tool_error("seccomp user notification is not available "
				   "here: %s", strerror(-listener));
			waitpid(child, NULL, 0);
			goto out_mask;
		}
	}
	if (!o->quiet && !static_mode)
		print_header();

	for (;;) {
		struct pollfd *pfd;
		int np = 0, i_sig, i_lsock, i_listener = -1, i_ep = -1;
		bool nap;
		size_t k;

		pfd = calloc(4 + st.nconns, sizeof(*pfd));
		if (!pfd) {
			tool_error("out of memory");
			break;
		}
		i_sig = np;
		pfd[np++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		i_lsock = np;
		pfd[np++] = (struct pollfd){ .fd = st.lsock, .events = POLLIN };
		if (listener >= 0) {
			i_listener = np;
			pfd[np++] = (struct pollfd){ .fd = listener, .events = POLLIN };
		}
		if (ep[0] >= 0) {
			i_ep = np;
			pfd[np++] = (struct pollfd){ .fd = ep[0], .events = POLLIN };
		}
		nap = records_read != 0;
		records_read = 0;
		for (k = 0; k < st.nconns && !nap; k++)
			pfd[np++] = (struct pollfd){ .fd = st.conns[k], .events = POLLIN };
		if (poll(pfd, (nfds_t)np, nap ? NAP_MS : 1000) < 0 &&
		    errno != EINTR) {
			tool_error("poll: %s", strerror(errno));
			free(pfd);
			break;
		}
		if (i_listener >= 0 && (pfd[i_listener].revents & POLLIN)) {
			if (audit_handle(listener, drain_pid) != 0) {
				close(listener);
				listener = -1;
			}
			free(pfd);
			continue; /* stay responsive to notifications */
		}
		if (i_listener >= 0 &&
		    (pfd[i_listener].revents & (POLLHUP | POLLERR))) {
			close(listener); /* no task left under the filter */
			listener = -1;
		}
		if (i_ep >= 0 && pfd[i_ep].revents) {
			if (read(ep[0], &exec_errno, sizeof(exec_errno)) <= 0)
				exec_errno = 0;
			close(ep[0]);
			ep[0] = -1;
		}
		if (pfd[i_lsock].revents)
			accept_all();
		drain();
		k = (size_t)pfd[i_sig].revents;
		free(pfd);
		if (k & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					continue;
				if (main_done) {
					/* only orphans are left: stop waiting */
					stop_signal = (int)si.ssi_signo;
					continue;
				}
				/* The terminal (SI_KERNEL: ^C, ^\, hangup) signals
				 * the whole foreground process group, CMD included:
				 * forwarding that too would deliver it twice.  A
				 * kill(2) or sigqueue(3) aimed at the tool is passed
				 * on. */
				if (si.ssi_code != SI_KERNEL) {
					kill(child, (int)si.ssi_signo);
					note("%s from pid %u "
						"forwarded to CMD",
						sigabbrev_np((int)si.ssi_signo),
						si.ssi_pid);
				} else {
					note("%s from the "
						"terminal (CMD has it too: not "
						"forwarded)",
						sigabbrev_np((int)si.ssi_signo));
				}
			}
			for (;;) {
				int s;
				pid_t p = waitpid(-1, &s, WNOHANG);

				if (p <= 0)
					break;
				if (p == child) {
					status = s;
					main_done = true;
				}
			}
			if (main_done && waitpid(-1, NULL, WNOHANG) < 0 &&
			    errno == ECHILD)
				break;
			if (main_done && stop_signal)
				break;
		}
		fflush(st.out);
	}
	/* every process is gone: take what is left on the sockets */
	drain();
	if (ep[0] >= 0) {
		if (read(ep[0], &exec_errno, sizeof(exec_errno)) <= 0)
			exec_errno = 0;
	}
	if (exec_errno) {
		tool_error("%s: cannot execute: %s", path, strerror(exec_errno));
		ret = exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXEC;
		goto out_mask;
	}
	if (o->json)
		summary_print_json(st.out);
	else
		summary_print(st.out);
	if (stop_signal)
		report_left_running(stop_signal);
	if (o->audit)
		missed = audit_report(st.out, static_mode, o->json);
	if (svg) {
		int err = svg_write(svg, path, rel_ns(now_ns()));

		svg = NULL;
		svg_created = false;
		if (err) {
			tool_error("--svg %s: %s", o->svg_path, strerror(-err));
			ret = EXIT_TOOL_ERROR;
			goto out_mask;
		}
	}
	if (WIFEXITED(status))
		ret = WEXITSTATUS(status);
	else if (WIFSIGNALED(status)) {
		note("%s killed by signal %d", path,
			WTERMSIG(status));
		ret = 128 + WTERMSIG(status);
	}
	if (missed || (o->audit && summary_losses()))
		ret = EXIT_AUDIT_MISSED;
	if (st.records == 0 && !static_mode)
		note("no record arrived: was %s loaded?", lib);
	created = false; /* a trace was written: keep it */

out_mask:
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
out:
	if (sfd >= 0)
		close(sfd);
	if (listener >= 0)
		close(listener);
	if (st.lsock >= 0)
		close(st.lsock);
	while (st.nconns)
		close(st.conns[--st.nconns]);
	free(st.conns);
	free(st.conn_pid);
	free_env(env, env_owned);
	if (ep[0] >= 0)
		close(ep[0]);
	if (ep[1] >= 0)
		close(ep[1]);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (svg) {
		fclose(svg);
		if (svg_created)
			unlink(o->svg_path);
	}
	if (st.out && st.out != stderr) {
		if ((ferror(st.out) | fclose(st.out)) != 0 && !created) {
			tool_error("-o %s: writing the trace failed: %s (it is "
				   "incomplete)", o->out_path, strerror(errno));
			ret = EXIT_TOOL_ERROR;
		}
		if (created)
			unlink(o->out_path);
	} else {
		fflush(stderr);
	}
	return ret;
}
