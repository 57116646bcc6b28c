/* SPDX-License-Identifier: MIT */
/* The umn command: option parsing and dispatch. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

const char *prog_name = "umn";

void tool_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: umn trace [-o FILE] [--audit] [--interval] [-q] [-v] [--json]\n"
		"                 [--svg FILE] [--] CMD [ARGS...]\n"
		"       umn selftest\n"
		"       umn --help | --version\n"
		"\n"
		"  trace     run CMD with umn loaded (libumn-trace.so preloaded) and print\n"
		"            every invalidation umn's event sources report, then a summary\n"
		"  selftest  fire each covered call once and show which source saw it\n"
		"\n"
		"See 'umn trace --help' and doc/umn.1.md.\n");
}

static void trace_usage(FILE *f)
{
	fprintf(f,
		"usage: umn trace [OPTIONS] [--] CMD [ARGS...]\n"
		"\n"
		"Run CMD with libumn-trace.so preloaded: every process of it (children and\n"
		"exec'd programs too) subscribes to its whole address space through\n"
		"umn_mm_self(); each invalidation is printed with its event, range, size,\n"
		"process and thread id and the source that saw it, and a summary by event\n"
		"and by source follows when CMD and all its descendants have exited.\n"
		"\n"
		"  -o, --output FILE  write the trace, summary and audit report to FILE\n"
		"                     (default: standard error)\n"
		"  -a, --audit        also run CMD under a seccomp user-notification\n"
		"                     supervisor that sees every munmap, mremap, madvise,\n"
		"                     process_madvise, mmap(MAP_FIXED), brk, shmat, shmdt\n"
		"                     and mprotect, and report each call that changed a\n"
		"                     mapping without a umn event; last line:\n"
		"                     'audit: N calls, M missed'\n"
		"  -i, --interval     subscribe with an interval subscription over the\n"
		"                     whole address space instead of a classic one\n"
		"  -q, --quiet        no line per event: summary (and audit) only\n"
		"  -v, --verbose      with --audit, print every audited call\n"
		"  -j, --json         one JSON object per line instead of text: each\n"
		"                     event, process, message, the summary and the\n"
		"                     audit result (fields: doc/umn.1.md)\n"
		"      --svg FILE     also draw the address space over time into FILE\n"
		"                     (SVG, for a browser): events as marks coloured\n"
		"                     by type, heap, stacks and mapped files labelled\n"
		"  -h, --help         this help\n"
		"\n"
		"Environment: UMN_TRACE_LIB overrides the preload library's path.\n"
		"Exit status: CMD's status (128+N if killed by signal N); 3 if --audit\n"
		"found missed calls; 125 umn error (bad option, -o unwritable, static\n"
		"binary without --audit, seccomp unavailable); 126 CMD not executable;\n"
		"127 CMD not found.\n");
}

/* One line after an error, like strace and perf: not the whole help. */
static void try_help(const char *cmd)
{
	fprintf(stderr, "Try '%s --help' for more information.\n", cmd);
}

static int cmd_trace(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "audit", no_argument, NULL, 'a' },
		{ "interval", no_argument, NULL, 'i' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "svg", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trace_opts o;
	int c;

	memset(&o, 0, sizeof(o));
	prog_name = "umn trace";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:o:aiqvjh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!*optarg) {
				tool_error("-o: empty file name");
				return EXIT_TOOL_ERROR;
			}
			o.out_path = optarg;
			break;
		case 'a':
			o.audit = true;
			break;
		case 'i':
			o.interval = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 's':
			if (!*optarg) {
				tool_error("--svg: empty file name");
				try_help("umn trace");
				return EXIT_TOOL_ERROR;
			}
			o.svg_path = optarg;
			break;
		case 'h':
			trace_usage(stdout);
			return 0;
		case ':':
			tool_error("option '%s' needs an argument", argv[optind - 1]);
			try_help("umn trace");
			return EXIT_TOOL_ERROR;
		default:
			if (optopt)
				tool_error("unknown option '-%c'", optopt);
			else
				tool_error("unknown option '%s'", argv[optind - 1]);
			try_help("umn trace");
			return EXIT_TOOL_ERROR;
		}
	}
	if (optind >= argc) {
		tool_error("missing command to run (usage: umn trace [OPTIONS] [--] CMD [ARGS...])");
		try_help("umn trace");
		return EXIT_TOOL_ERROR;
	}
	if (o.json && o.verbose) {
		tool_error("--json and --verbose cannot be combined (the audited "
			   "calls are text)");
		try_help("umn trace");
		return EXIT_TOOL_ERROR;
	}
	o.argv = argv + optind;
	return trace_run(&o);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		tool_error("missing subcommand: 'trace' or 'selftest'");
		usage(stderr);
		return EXIT_TOOL_ERROR;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("umn 0.1.0\n");
		return 0;
	}
	if (!strcmp(argv[1], "trace"))
		return cmd_trace(argc - 1, argv + 1);
	if (!strcmp(argv[1], "selftest")) {
		if (argc > 2) {
			if (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help")) {
				printf("usage: umn selftest\n"
				       "Fire each call umn's sources cover once on scratch memory and\n"
				       "print which source reported it.  Exit 0 if all were covered.\n");
				return 0;
			}
			prog_name = "umn selftest";
			tool_error("unexpected argument '%s'", argv[2]);
			return EXIT_TOOL_ERROR;
		}
		return selftest_run();
	}
	if (argv[1][0] == '-')
		tool_error("unknown option '%s'", argv[1]);
	else
		tool_error("unknown command '%s' (commands: trace, selftest)",
			   argv[1]);
	try_help("umn");
	return EXIT_TOOL_ERROR;
}
