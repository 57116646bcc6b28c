/* SPDX-License-Identifier: MIT */
/*
 * The coverage self-test of the active sources: every row must be covered
 * (or not runnable here), and by the expected source.  Prints the table.
 *
 * With the argument "ipc-namespace" it first moves into a fresh IPC
 * namespace, where the shmdt row's segment is the namespace's first and has
 * id 0 (its mappings show inode 0 in /proc/self/maps).  Skips (77) when
 * the namespace cannot be made here.
 *
 * "lazy-decoder": libumn.so's decoder (libZydis) is not loaded before the
 * first umn_mm_self() and is after it (the patch source opens it then).
 * "no-decoder" (run with UMN_SELF_DECODER naming a library that does not
 * exist): umn_mm_self() still works, through interposition.
 */
#include <errno.h>
#include <link.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

static const char *origin_name(unsigned int o)
{
	static const char *const n[] = { "primary", "patch", "interpose",
					  "uffd", "explicit" };

	return o < sizeof(n) / sizeof(n[0]) ? n[o] : "-";
}

/* Count the System V segments visible here (-1 if unknown). */
static int shm_segments(void)
{
	FILE *f = fopen("/proc/sysvipc/shm", "r");
	char line[512];
	int n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n++;	/* the first line is the header */
	fclose(f);
	return n;
}

static void enter_fresh_ipc_namespace(void)
{
	if (unshare(CLONE_NEWIPC) != 0 &&
	    unshare(CLONE_NEWUSER | CLONE_NEWIPC) != 0) {
		printf("# SKIP: cannot make an IPC namespace here: %s\n",
		       strerror(errno));
		exit(77);
	}
	/* Fresh: the next segment made gets id 0. */
	CHECK_EQ(shm_segments(), 0);
	printf("# in a fresh IPC namespace: the shmdt row's segment has id 0\n");
}

static int find_decoder(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	return info->dlpi_name && strstr(info->dlpi_name, "libZydis") ? 1 : 0;
}

static bool decoder_loaded(void)
{
	return dl_iterate_phdr(find_decoder, NULL) == 1;
}

int main(int argc, char **argv)
{
	struct umn_self_coverage rows[32];
	const char *mode = argc > 1 ? argv[1] : "";
	int n, bad = 0;

	if (!strcmp(mode, "ipc-namespace"))
		enter_fresh_ipc_namespace();
	if (!strcmp(mode, "lazy-decoder"))
		CHECK(!decoder_loaded());
	CHECK(umn_mm_self() != NULL);
	printf("# sources: %#x\n", umn_self_sources());
	if (!strcmp(mode, "lazy-decoder")) {
		CHECK(umn_self_sources() & UMN_SELF_PATCH);
		CHECK(decoder_loaded());
	}
	if (!strcmp(mode, "no-decoder")) {
		CHECK(!decoder_loaded());
		CHECK_EQ(umn_self_sources(), UMN_SELF_INTERPOSE);
	}
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
