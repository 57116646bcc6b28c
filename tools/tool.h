/* SPDX-License-Identifier: MIT */
/* The umn command: declarations shared by its files. */
#ifndef UMN_TOOL_H
#define UMN_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Exit statuses of the tool itself (CMD's own status is passed through). */
#define EXIT_TOOL_ERROR   125 /* bad usage, setup failure, refused program */
#define EXIT_NOT_EXEC     126 /* CMD found but not executable */
#define EXIT_NOT_FOUND    127 /* CMD not found */
#define EXIT_AUDIT_MISSED 3   /* --audit found calls umn did not report */

extern const char *prog_name;
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- main.c: options ---------------------------------------------------- */
struct trace_opts {
	const char *out_path; /* -o FILE, or NULL for stderr */
	bool audit;           /* --audit */
	bool interval;        /* --interval: interval subscription */
	bool quiet;           /* -q: no per-event lines, summary only */
	bool verbose;         /* -v: also print every audited call */
	bool json;            /* --json: one JSON object per line */
	const char *svg_path; /* --svg FILE: the address space over time */
	char **argv;          /* CMD [ARGS] */
};

/* ---- elf_check.c -------------------------------------------------------- */
enum elf_kind {
	ELF_DYNAMIC,     /* has PT_INTERP: the preload can be loaded */
	ELF_STATIC,      /* no PT_INTERP: no dynamic loader, no preload */
	ELF_FOREIGN,     /* other class/machine than the tool (32-bit ...) */
	ELF_SCRIPT,      /* #! script: its interpreter is checked instead */
	ELF_UNKNOWN,     /* not ELF and not a script (exec decides) */
};
/*
 * resolve_command - find cmd like execvp does (PATH when it has no '/').
 * Returns 0 with the path in buf, or EXIT_NOT_FOUND / EXIT_NOT_EXEC after
 * printing why.
 */
int resolve_command(const char *cmd, char *buf, size_t len);
/*
 * elf_classify - what kind of program path is; follows one level of #!
 * (interp gets the interpreter's path then).  why gets a short reason.
 */
enum elf_kind elf_classify(const char *path, char *why, size_t why_len);

/* ---- summary.c ---------------------------------------------------------- */
void summary_event(int pid, int tid, unsigned int event, unsigned int origin,
		   unsigned long start, unsigned long end);
void summary_process(int pid);
void summary_thread(int pid);
/* Something the trace does not show: the program closed the preload's
 * connection (reconnected: nothing lost), records were lost, a program
 * ran where the preload could not be loaded (what: its path). */
enum loss_kind {
	LOSS_RECONNECT, LOSS_RECORDS, LOSS_STATIC, LOSS_FOREIGN,
	LOSS_NOPRELOAD, LOSS_NR
};
void summary_loss(enum loss_kind kind, int pid, unsigned long n,
		  const char *what);
/* The number of losses (everything but reconnections). */
unsigned long summary_losses(void);
void summary_print(FILE *out);
void summary_print_json(FILE *out);
/* s as a JSON string (quoted, escaped) */
void json_string(FILE *f, const char *s);
const char *event_name(unsigned int event);
const char *origin_name(unsigned int origin);
void format_size(char *buf, size_t len, unsigned long long bytes);

/* ---- trace.c ------------------------------------------------------------ */
int trace_run(const struct trace_opts *opts);
/* The preload library's path (UMN_TRACE_LIB, next to the tool, ../lib*). */
int find_preload(char *buf, size_t len);

/* ---- audit.c (the seccomp user-notification supervisor) ----------------- */
/* In the child, before exec: install the filter, send the listener over
 * sock.  Returns 0 or a negative errno. */
int audit_child_install(int sock);
/* In the parent: receive the listener fd from sock (blocking). */
int audit_receive_listener(int sock);
/* exact: decide every call against the map, also before the preload is
 * ready (CMD is statically linked: it never will be). */
void audit_init(bool verbose, bool exact, FILE *out);
/* The preload of pid (image token) is ready / failed. */
void audit_ready(int pid, const unsigned char *token);
/* One event record from the preload. */
void audit_event(int pid, int tid, unsigned int event, unsigned int origin,
		 unsigned long start, unsigned long end);
/*
 * One notification is pending on listener: receive it, record it, let the
 * call continue.  drain(pid) is called first so every record the preload
 * of process pid sent before the call is seen (drain(-1): every process).  Returns 0, or -1 when the listener is gone.
 */
int audit_handle(int listener, void (*drain)(int pid));
/* Print the missed calls and the last line; returns the number missed. */
unsigned long audit_report(FILE *out, bool static_hint, bool json);

/* ---- svg.c: --svg FILE ---------------------------------------------------- */
/* One event at t_ns (since the tool started). */
void svg_event(unsigned long t_ns, int pid, unsigned int event,
	       unsigned long start, unsigned long end);
/* pid is ready: snapshot its /proc/PID/maps (labels: heap, stacks, files). */
void svg_process(int pid);
/* Write the picture to f (opened before CMD ran) and close f; returns 0
 * or -errno. */
int svg_write(FILE *f, const char *cmd, unsigned long t_end_ns);

/* ---- selftest.c --------------------------------------------------------- */
int selftest_run(void);

#endif /* UMN_TOOL_H */
