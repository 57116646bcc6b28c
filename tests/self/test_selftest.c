/* SPDX-License-Identifier: MIT */
/*
 * The coverage self-test of the active sources: every row must be covered
 * (or not runnable here), and by the expected source.  Prints the table.
 */
#include <errno.h>
#include <stdio.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

static const char *origin_name(unsigned int o)
{
	static const char *const n[] = { "primary", "patch", "interpose",
					  "uffd", "explicit" };

	return o < sizeof(n) / sizeof(n[0]) ? n[o] : "-";
}

int main(void)
{
	struct umn_self_coverage rows[32];
	int n, bad = 0;

	CHECK(umn_mm_self() != NULL);
	printf("# sources: %#x\n", umn_self_sources());
	n = umn_self_selftest(rows, 32);
	CHECK(n > 0);
	printf("# %-22s %-10s %s\n", "call", "origin", "covered");
	for (int i = 0; i < n; i++) {
		bool expected = self_expect_covered(rows[i].call,
						    umn_self_sources());

		printf("# %-22s %-10s %s%s\n", rows[i].call,
		       origin_name(rows[i].origin),
		       rows[i].error ? "not run: " :
		       rows[i].covered ? "yes" : "NO",
		       rows[i].error ? strerror(-rows[i].error) : "");
		if (!rows[i].error && !rows[i].covered && expected)
			bad++;
	}
	CHECK_EQ(bad, 0);
	printf("ok - selftest\n");
	return 0;
}
