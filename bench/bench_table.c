/* SPDX-License-Identifier: MIT */
/*
 * bench_table: collect the "@row" lines the benchmarks printed and print one
 * table (machine first), optionally Markdown and JSON.
 *
 *   bench_table [--json FILE] [--markdown] [--command STR] < rows
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

#define MAX_ROWS 128

int main(int argc, char **argv)
{
	static char lines[MAX_ROWS][2048];
	struct bench_row rows[MAX_ROWS];
	struct bench_machine m;
	const char *json = NULL, *command = "bench/run.sh";
	bool markdown = false;
	int n = 0, met = 0, missed = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json = argv[++i];
		else if (!strcmp(argv[i], "--command") && i + 1 < argc)
			command = argv[++i];
		else if (!strcmp(argv[i], "--markdown"))
			markdown = true;
		else {
			fprintf(stderr, "usage: %s [--json FILE] [--markdown] "
				"[--command STR] < rows\n", argv[0]);
			return 2;
		}
	}
	while (n < MAX_ROWS && fgets(lines[n], sizeof(lines[n]), stdin))
		if (!bench_parse_row(lines[n], &rows[n]))
			n++;
	bench_machine(&m);
	printf("command:  %s\n", command);
	bench_print_machine(stdout, &m);
	printf("\n");
	if (markdown)
		bench_print_markdown(stdout, rows, n);
	else
		bench_print_table(stdout, rows, n);
	for (int i = 0; i < n; i++) {
		const char *st = bench_status(&rows[i]);

		met += !strcmp(st, "met");
		missed += !strcmp(st, "missed");
	}
	printf("\n%d rows: %d targets met, %d missed (ratios against baselines "
	       "measured in the same run; medians of interleaved rounds)\n",
	       n, met, missed);
	if (json) {
		int ret = bench_write_json(json, &m, command, rows, n);

		if (ret) {
			fprintf(stderr, "bench_table: %s: %s\n", json,
				strerror(-ret));
			return 1;
		}
		printf("JSON written to %s\n", json);
	}
	return 0;
}
