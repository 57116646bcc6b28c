/* SPDX-License-Identifier: MIT */
/* umn selftest: the coverage self-test of umn's event sources, as a table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#if UMN_TOOL_HAVE_SELF
#include <umn/self.h>

int selftest_run(void)
{
	struct umn_self_coverage rows[64];
	unsigned int sources;
	int n, i, missing = 0, skipped = 0;

	prog_name = "umn selftest";
	/* The sources' own report on standard error: how each libc function
	 * is hooked and, per loaded object, the system-call sites found and
	 * those that could not be patched (doc/sources.md). */
	setenv("UMN_SELF_DEBUG", "1", 0);
	if (!umn_mm_self()) {
		tool_error("no event source could be installed: %s",
			   strerror(errno));
		return 1;
	}
	sources = umn_self_sources();
	n = umn_self_selftest(rows, sizeof(rows) / sizeof(rows[0]));
	if (n < 0) {
		tool_error("self-test failed: %s", strerror(-n));
		return 1;
	}
	printf("umn self-test: sources %s%s%s\n",
	       (sources & UMN_SELF_PATCH) ? "patch" : "",
	       (sources & UMN_SELF_PATCH) && (sources & UMN_SELF_INTERPOSE) ? "+" : "",
	       (sources & UMN_SELF_INTERPOSE) ? "interpose" : "");
	printf("%-28s %-10s %s\n", "CALL", "SOURCE", "COVERED");
	for (i = 0; i < n; i++) {
		const char *call = rows[i].call ? rows[i].call : "?";

		if (rows[i].error) {
			/* the call could not be made here: not run */
			printf("%-28s %-10s skipped: %s\n", call, "-",
			       strerror(-rows[i].error));
			skipped++;
			continue;
		}
		printf("%-28s %-10s %s\n", call,
		       rows[i].covered ? origin_name(rows[i].origin) : "-",
		       rows[i].covered ? "yes" : "NO");
		if (!rows[i].covered)
			missing++;
	}
	printf("%d calls, %d covered, %d not covered, %d skipped\n", n,
	       n - missing - skipped, missing, skipped);
	return missing ? 1 : 0;
}
#else
int selftest_run(void)
{
	prog_name = "umn selftest";
	tool_error("this build of umn has no event sources (src/self)");
	return EXIT_TOOL_ERROR;
}
#endif
