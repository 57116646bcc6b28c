/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the umn benchmarks (see bench.h).
 */
#include <errno.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

static bool opt_quick;
static int opt_rounds;

void bench_init(int argc, char **argv)
{
	const char *env = getenv("BENCH_QUICK");

	if (env && *env && strcmp(env, "0"))
		opt_quick = true;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			opt_quick = true;
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			opt_rounds = atoi(argv[++i]);
	}
	if (opt_rounds <= 0)
		opt_rounds = opt_quick ? 5 : 11;
	if (opt_rounds > BENCH_MAX_ROUNDS)
		opt_rounds = BENCH_MAX_ROUNDS;
}

bool bench_quick(void)
{
	return opt_quick;
}

int bench_rounds(void)
{
	return opt_rounds ? opt_rounds : 11;
}

uint64_t bench_scale(uint64_t full, uint64_t min)
{
	uint64_t v = opt_quick ? full / 4 : full;

	return v < min ? min : v;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

int bench_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % bench_ncpus(), &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return -errno;
	return 0;
}

void bench_unpin(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	for (int i = 0; i < bench_ncpus() && i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(const double *v, int n)
{
	double tmp[BENCH_MAX_ROUNDS];

	if (n <= 0)
		return -1;
	if (n > BENCH_MAX_ROUNDS)
		n = BENCH_MAX_ROUNDS;
	memcpy(tmp, v, (size_t)n * sizeof(*v));
	qsort(tmp, (size_t)n, sizeof(*tmp), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

double bench_min(const double *v, int n)
{
	double m = n > 0 ? v[0] : -1;

	for (int i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

/* ---- interleaved rounds ---- */

static double run_batch(struct bench_case *c, uint64_t iters)
{
	uint64_t t0 = bench_now_ns();

	c->fn(c->arg, iters);
	return (double)(bench_now_ns() - t0);
}

static uint64_t calibrate(struct bench_case *c, double batch_ns)
{
	uint64_t iters = 1;
	double t;

	for (;;) {
		t = run_batch(c, iters);
		if (t >= batch_ns / 8 || iters >= (1ull << 40))
			break;
		iters *= t < batch_ns / 1000 ? 16 : 2;
	}
	if (t <= 0)
		t = 1;
	iters = (uint64_t)((double)iters * batch_ns / t);
	return iters ? iters : 1;
}

void bench_interleave(struct bench_case *cases, int ncases, int rounds,
		      double batch_ns)
{
	if (rounds > BENCH_MAX_ROUNDS)
		rounds = BENCH_MAX_ROUNDS;
	for (int i = 0; i < ncases; i++) {
		cases[i].iters = calibrate(&cases[i], batch_ns);
		cases[i].n = 0;
	}
	/* warm-up round, discarded */
	for (int i = 0; i < ncases; i++)
		(void)run_batch(&cases[i], cases[i].iters);
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < ncases; i++) {
			struct bench_case *c = &cases[i];

			c->per_op[c->n++] = run_batch(c, c->iters) /
					    (double)c->iters;
		}
	}
	for (int i = 0; i < ncases; i++) {
		cases[i].median = bench_median(cases[i].per_op, cases[i].n);
		cases[i].min = bench_min(cases[i].per_op, cases[i].n);
	}
}

double bench_round_ratio(const struct bench_case *a,
			 const struct bench_case *b)
{
	double r[BENCH_MAX_ROUNDS];
	int n = a->n < b->n ? a->n : b->n;

	for (int i = 0; i < n; i++)
		r[i] = b->per_op[i] > 0 ? a->per_op[i] / b->per_op[i] : 0;
	return bench_median(r, n);
}

void bench_print_cases(FILE *f, const struct bench_case *cases, int ncases)
{
	for (int i = 0; i < ncases; i++)
		fprintf(f, "  %-46s median %10.2f ns/op  min %10.2f  "
			"(%d rounds x %llu ops)\n", cases[i].label,
			cases[i].median, cases[i].min, cases[i].n,
			(unsigned long long)cases[i].iters);
	fflush(f);
}

/* ---- rows ---- */

const char *bench_status(const struct bench_row *row)
{
	if (row->subject_val < 0 || (row->target_max != BENCH_NO_TARGET &&
				     row->ratio < 0))
		return "n/a";
	if (row->target_max == BENCH_NO_TARGET)
		return "info";
	if (row->higher_is_better)
		return row->ratio >= row->target_max ? "met" : "missed";
	return row->ratio <= row->target_max ? "met" : "missed";
}

static const char *nz(const char *s)
{
	return s && *s ? s : "-";
}

void bench_emit(const struct bench_row *row)
{
	printf("@row\t%s\t%s\t%s\t%.6g\t%s\t%.6g\t%s\t%.6g\t%s\t%.6g\t%d\t%s\n",
	       nz(row->id), nz(row->name), nz(row->subject), row->subject_val,
	       nz(row->baseline), row->baseline_val, nz(row->unit), row->ratio,
	       nz(row->target), row->target_max, row->higher_is_better ? 1 : 0,
	       nz(row->note));
	fflush(stdout);
}

int bench_parse_row(char *line, struct bench_row *row)
{
	char *field[13];
	int n = 0;
	char *save = NULL, *tok;
	size_t len = strlen(line);

	if (strncmp(line, "@row\t", 5))
		return -1;
	if (len && line[len - 1] == '\n')
		line[len - 1] = 0;
	for (tok = strtok_r(line + 5, "\t", &save); tok && n < 13;
	     tok = strtok_r(NULL, "\t", &save))
		field[n++] = tok;
	if (n != 12)
		return -1;
	memset(row, 0, sizeof(*row));
	row->id = field[0];
	row->name = field[1];
	row->subject = field[2];
	row->subject_val = strtod(field[3], NULL);
	row->baseline = field[4];
	row->baseline_val = strtod(field[5], NULL);
	row->unit = field[6];
	row->ratio = strtod(field[7], NULL);
	row->target = strcmp(field[8], "-") ? field[8] : "";
	row->target_max = strtod(field[9], NULL);
	row->higher_is_better = atoi(field[10]) != 0;
	row->note = strcmp(field[11], "-") ? field[11] : "";
	return 0;
}

/* ---- machine ---- */

static void copy_str(char *out, size_t n, const char *s)
{
	size_t len = strlen(s);

	if (len >= n)
		len = n - 1;
	memcpy(out, s, len);
	out[len] = 0;
}

static void read_first_line(const char *path, const char *key, char *out,
			    size_t n)
{
	FILE *f = fopen(path, "r");
	char line[512];

	snprintf(out, n, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p;

		if (key && strncmp(line, key, strlen(key)))
			continue;
		p = key ? strchr(line, ':') : line;
		if (!p)
			continue;
		if (key)
			p++;
		while (*p == ' ' || *p == '\t')
			p++;
		p[strcspn(p, "\n")] = 0;
		copy_str(out, n, p);
		break;
	}
	fclose(f);
}

void bench_machine(struct bench_machine *m)
{
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;

	memset(m, 0, sizeof(*m));
	read_first_line("/proc/cpuinfo", "model name", m->cpu, sizeof(m->cpu));
	m->cores = bench_ncpus();
	if (!uname(&u)) {
		char buf[3 * sizeof(u.release)];

		snprintf(buf, sizeof(buf), "%.60s %.60s %.20s", u.sysname,
			 u.release, u.machine);
		copy_str(m->kernel, sizeof(m->kernel), buf);
	}
	snprintf(m->glibc, sizeof(m->glibc), "%s", gnu_get_libc_version());
#if defined(__clang__)
	snprintf(m->compiler, sizeof(m->compiler), "clang %s", __clang_version__);
#elif defined(__GNUC__)
	snprintf(m->compiler, sizeof(m->compiler), "gcc %s", __VERSION__);
#else
	snprintf(m->compiler, sizeof(m->compiler), "unknown");
#endif
	read_first_line("/proc/loadavg", NULL, m->loadavg, sizeof(m->loadavg));
	gmtime_r(&now, &tm);
	strftime(m->date, sizeof(m->date), "%Y-%m-%d %H:%M UTC", &tm);
}

void bench_print_machine(FILE *f, const struct bench_machine *m)
{
	fprintf(f, "machine:  %s, %d cores\n", m->cpu, m->cores);
	fprintf(f, "kernel:   %s\n", m->kernel);
	fprintf(f, "glibc:    %s\n", m->glibc);
	fprintf(f, "compiler: %s (-O2, CMake Release)\n", m->compiler);
	fprintf(f, "load:     %s (at the end of the run)\n", m->loadavg);
	fprintf(f, "date:     %s\n", m->date);
}

/* ---- table ---- */

static void fmt_val(char *out, size_t n, double v, const char *unit)
{
	if (v < 0)
		snprintf(out, n, "n/a");
	else if (v >= 100000)
		snprintf(out, n, "%.0f %s", v, unit);
	else if (v >= 100)
		snprintf(out, n, "%.1f %s", v, unit);
	else
		snprintf(out, n, "%.2f %s", v, unit);
}

static void fmt_ratio(char *out, size_t n, double r)
{
	if (r < 0)
		snprintf(out, n, "n/a");
	else
		snprintf(out, n, "%.3fx", r);
}

void bench_print_table(FILE *f, const struct bench_row *rows, int n)
{
	char s[48], b[48], r[24];

	fprintf(f, "%-4s %-50s %-16s %-16s %-9s %-9s %s\n", "#", "benchmark",
		"subject", "baseline", "ratio", "target", "result");
	for (int i = 0; i < 4 + 1 + 50 + 1 + 16 + 1 + 16 + 1 + 9 + 1 + 9 + 7; i++)
		fputc('-', f);
	fputc('\n', f);
	for (int i = 0; i < n; i++) {
		const struct bench_row *x = &rows[i];

		fmt_val(s, sizeof(s), x->subject_val, x->unit);
		fmt_val(b, sizeof(b), x->baseline_val, x->unit);
		fmt_ratio(r, sizeof(r), x->ratio);
		fprintf(f, "%-4s %-50.50s %-16s %-16s %-9s %-9s %s\n", x->id,
			x->name, s, b, r, *x->target ? x->target : "-",
			bench_status(x));
		fprintf(f, "     %-50.50s   subject: %s; baseline: %s\n", "",
			x->subject, x->baseline);
		if (*x->note)
			fprintf(f, "     %-50.50s   note: %s\n", "", x->note);
	}
}

void bench_print_markdown(FILE *f, const struct bench_row *rows, int n)
{
	char s[48], b[48], r[24];

	fprintf(f, "| # | benchmark | subject | baseline | ratio | target | "
		"result | note |\n|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < n; i++) {
		const struct bench_row *x = &rows[i];

		fmt_val(s, sizeof(s), x->subject_val, x->unit);
		fmt_val(b, sizeof(b), x->baseline_val, x->unit);
		fmt_ratio(r, sizeof(r), x->ratio);
		fprintf(f, "| %s | %s | %s: %s | %s: %s | %s | %s | %s | %s |\n",
			x->id, x->name, x->subject, s, x->baseline, b, r,
			*x->target ? x->target : "-", bench_status(x),
			x->note);
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (v < 0 || isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

int bench_write_json(const char *path, const struct bench_machine *m,
		     const char *command, const struct bench_row *rows, int n)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs("{\n  \"machine\": {\"cpu\": ", f);
	json_str(f, m->cpu);
	fprintf(f, ", \"cores\": %d, \"kernel\": ", m->cores);
	json_str(f, m->kernel);
	fputs(", \"glibc\": ", f);
	json_str(f, m->glibc);
	fputs(", \"compiler\": ", f);
	json_str(f, m->compiler);
	fputs(", \"loadavg\": ", f);
	json_str(f, m->loadavg);
	fputs(", \"date\": ", f);
	json_str(f, m->date);
	fputs("},\n  \"command\": ", f);
	json_str(f, command);
	fputs(",\n  \"rows\": [\n", f);
	for (int i = 0; i < n; i++) {
		const struct bench_row *x = &rows[i];

		fputs("    {\"id\": ", f);
		json_str(f, x->id);
		fputs(", \"benchmark\": ", f);
		json_str(f, x->name);
		fputs(", \"subject\": ", f);
		json_str(f, x->subject);
		fputs(", \"subject_value\": ", f);
		json_num(f, x->subject_val);
		fputs(", \"baseline\": ", f);
		json_str(f, x->baseline);
		fputs(", \"baseline_value\": ", f);
		json_num(f, x->baseline_val);
		fputs(", \"unit\": ", f);
		json_str(f, x->unit);
		fputs(", \"ratio\": ", f);
		json_num(f, x->ratio);
		fputs(", \"target\": ", f);
		if (*x->target)
			json_str(f, x->target);
		else
			fputs("null", f);
		fputs(", \"status\": ", f);
		json_str(f, bench_status(x));
		fputs(", \"note\": ", f);
		json_str(f, x->note);
		fprintf(f, "}%s\n", i + 1 < n ? "," : "");
	}
	fputs("  ]\n}\n", f);
	return fclose(f) ? -errno : 0;
}

/* ---- memory ---- */

size_t bench_heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

size_t bench_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, rss = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (size_t)sysconf(_SC_PAGESIZE);
}
