/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the umn benchmarks: clocks, CPU pinning, interleaved
 * rounds with medians, result rows, the machine description, and the table
 * and JSON writers used by bench_table.
 *
 * Every benchmark program measures a subject beside a baseline in the same
 * process and the same run, in interleaved rounds (baseline, subject,
 * baseline, subject, ...), and reports medians (and minima) per operation
 * plus the ratio subject / baseline.  Only ratios mean anything on a shared,
 * noisy machine.  Benchmarks print figures; they never fail on time.
 *
 * Output protocol: a program prints human-readable detail lines, and one
 * line per result row that starts with "@row\t" (tab-separated fields, see
 * bench_emit()).  bench/run.sh collects the rows and bench_table prints them
 * as one table (and JSON).
 */
#ifndef UMN_BENCH_H
#define UMN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_ROUNDS 64

/* Keep the compiler from deleting or hoisting work (no instruction emitted). */
#define bench_barrier() __asm__ __volatile__("" ::: "memory")
/* Make v look used and unknown to the compiler (no memory clobber). */
#define bench_use(v) __asm__ __volatile__("" : "+r"(v))

/* ---- options: bench_init parses --quick and --rounds N ---- */
void bench_init(int argc, char **argv);
bool bench_quick(void);
int bench_rounds(void);           /* 11 by default, 5 with --quick */
/* Scale a duration or a count by 1 (full) or 1/4 (quick), at least min. */
uint64_t bench_scale(uint64_t full, uint64_t min);

/* ---- clocks and CPUs ---- */
uint64_t bench_now_ns(void);       /* CLOCK_MONOTONIC */
int bench_ncpus(void);             /* online CPUs */
int bench_pin(int cpu);            /* pin the calling thread; 0 or -errno */
void bench_unpin(void);            /* allow every online CPU again */

/* ---- statistics ---- */
double bench_median(const double *v, int n);
double bench_min(const double *v, int n);

/* ---- interleaved rounds ---- */

/* Run `iters` operations of a case. */
typedef void (*bench_fn)(void *arg, uint64_t iters);

struct bench_case {
	const char *label;
	bench_fn fn;
	void *arg;
	/* filled by bench_interleave */
	uint64_t iters;                 /* per batch (calibrated) */
	double per_op[BENCH_MAX_ROUNDS]; /* ns per operation, per round */
	int n;
	double median, min;
};

/*
 * Calibrate each case to batches of about batch_ns, warm up, then run
 * `rounds` rounds; in each round every case runs one batch, in order
 * (case 0 is the baseline).  Fills iters, per_op, median, min.
 */
void bench_interleave(struct bench_case *cases, int ncases, int rounds,
		      double batch_ns);

/* Median over rounds of per_op[a] / per_op[b] (same-round ratios). */
double bench_round_ratio(const struct bench_case *a,
			 const struct bench_case *b);

/* Print "label: median x ns/op (min y) [iters/batch]" for each case. */
void bench_print_cases(FILE *f, const struct bench_case *cases, int ncases);

/* ---- result rows ---- */

#define BENCH_NO_TARGET (-1.0)

struct bench_row {
	const char *id;        /* "1", "3c", ... */
	const char *name;      /* what is measured */
	const char *subject;   /* subject label */
	double subject_val;    /* negative: not available */
	const char *baseline;  /* baseline label */
	double baseline_val;   /* negative: not available */
	const char *unit;      /* "ns/op", "Mops/s", "B" ... */
	double ratio;          /* subject / baseline (negative: n/a) */
	const char *target;    /* "<= 0.5x", or "" for none */
	double target_max;     /* ratio must be <= this; BENCH_NO_TARGET */
	bool higher_is_better; /* target is ratio >= target_max instead */
	const char *note;      /* short remark, may be "" */
};

/* Print the row on stdout as "@row\t..." (also flushes stdout). */
void bench_emit(const struct bench_row *row);

/* "met", "missed", "info" (no target) or "n/a" (no figure). */
const char *bench_status(const struct bench_row *row);

/* ---- table / JSON (bench_table) ---- */

struct bench_machine {
	char cpu[128];
	int cores;
	char kernel[128];
	char glibc[64];
	char compiler[128];
	char loadavg[64];
	char date[64];
};

void bench_machine(struct bench_machine *m);
void bench_print_machine(FILE *f, const struct bench_machine *m);

/* Parse one "@row\t..." line into row (strings are pointers into line,
 * which is modified).  Returns 0, or -1 if it is not a row. */
int bench_parse_row(char *line, struct bench_row *row);

void bench_print_table(FILE *f, const struct bench_row *rows, int n);
/* Markdown variant, for doc/benchmarks.md. */
void bench_print_markdown(FILE *f, const struct bench_row *rows, int n);
int bench_write_json(const char *path, const struct bench_machine *m,
		     const char *command, const struct bench_row *rows, int n);

/* ---- memory ---- */
size_t bench_heap_in_use(void);    /* malloc'd bytes incl. overhead */
size_t bench_rss_bytes(void);      /* resident set, from /proc/self/statm */

#endif /* UMN_BENCH_H */
