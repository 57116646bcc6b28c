/* SPDX-License-Identifier: MIT */
/*
 * The summary table printed when the traced command is done: counts and
 * bytes of the invalidations umn reported, by event and by source, over
 * every traced process (children and exec'd programs included: they all
 * send their records to the same tool).
 */
#include <stdio.h>
#include <string.h>

#include "tool.h"

#define NR_EVENTS  9 /* UMN_NOTIFY_NR_EVENTS + "other" */
#define NR_ORIGINS 6 /* UMN_ORIGIN_NR + "other" */

static const char *const event_names[NR_EVENTS] = {
	"unmap", "clear", "protection_vma", "protection_page", "soft_dirty",
	"release", "migrate", "exclusive", "other",
};
static const char *const origin_names[NR_ORIGINS] = {
	"primary", "patch", "interpose", "uffd", "explicit", "other",
};

struct counter {
	unsigned long long count;
	unsigned long long bytes;
};

static struct counter by_event[NR_EVENTS];
static struct counter by_origin[NR_ORIGINS];
static struct counter by_both[NR_EVENTS][NR_ORIGINS];
static unsigned long long total;
static unsigned long processes;

/* distinct thread ids seen (small open-addressing set) */
#define TID_SET 4096
static int tid_set[TID_SET];
static unsigned long threads;

const char *event_name(unsigned int event)
{
	return event_names[event < NR_EVENTS - 1 ? event : NR_EVENTS - 1];
}

const char *origin_name(unsigned int origin)
{
	return origin_names[origin < NR_ORIGINS - 1 ? origin : NR_ORIGINS - 1];
}

void format_size(char *buf, size_t len, unsigned long long bytes)
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%lluB", bytes);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, v < 10 ? "%.1f%ci" : "%.0f%ci", v, units[u]);
	/* "4.0Ki" -> "4.0K": KiB-based, short */
	buf[strlen(buf) - 1] = 0;
}

static void add(struct counter *c, unsigned long long bytes)
{
	c->count++;
	c->bytes += bytes;
}

void summary_event(int pid, int tid, unsigned int event, unsigned int origin,
		   unsigned long start, unsigned long end)
{
	unsigned long long bytes = end > start ? end - start : 0;
	unsigned int e = event < NR_EVENTS - 1 ? event : NR_EVENTS - 1;
	unsigned int o = origin < NR_ORIGINS - 1 ? origin : NR_ORIGINS - 1;
	unsigned int h = (unsigned int)tid * 2654435761u % TID_SET;
	unsigned int i;

	(void)pid;
	add(&by_event[e], bytes);
	add(&by_origin[o], bytes);
	add(&by_both[e][o], bytes);
	total++;
	for (i = 0; i < TID_SET; i++, h = (h + 1) % TID_SET) {
		if (tid_set[h] == tid)
			break;
		if (tid_set[h] == 0) {
			tid_set[h] = tid;
			threads++;
			break;
		}
	}
}

void summary_process(int pid)
{
	(void)pid;
	processes++;
}

static void row(FILE *out, const char *name, const struct counter *c)
{
	char sz[32];

	format_size(sz, sizeof(sz), c->bytes);
	fprintf(out, "umn:   %-16s %10llu %10s\n", name, c->count, sz);
}

void summary_print(FILE *out)
{
	struct counter all = { 0, 0 };
	unsigned int e, o;

	fprintf(out,
		"umn: summary: %llu invalidations in %lu process%s, %lu thread%s\n",
		total, processes, processes == 1 ? "" : "es", threads,
		threads == 1 ? "" : "s");
	fprintf(out, "umn:   %-16s %10s %10s\n", "EVENT", "COUNT", "BYTES");
	for (e = 0; e < NR_EVENTS; e++) {
		if (!by_event[e].count)
			continue;
		row(out, event_names[e], &by_event[e]);
		all.count += by_event[e].count;
		all.bytes += by_event[e].bytes;
	}
	row(out, "total", &all);
	fprintf(out, "umn:   %-16s %10s %10s\n", "SOURCE", "COUNT", "BYTES");
	for (o = 0; o < NR_ORIGINS; o++)
		if (by_origin[o].count)
			row(out, origin_names[o], &by_origin[o]);
	if (total) {
		fprintf(out, "umn:   %-16s", "EVENT x SOURCE");
		for (o = 0; o < NR_ORIGINS; o++)
			if (by_origin[o].count)
				fprintf(out, " %10s", origin_names[o]);
		fputc('\n', out);
		for (e = 0; e < NR_EVENTS; e++) {
			if (!by_event[e].count)
				continue;
			fprintf(out, "umn:   %-16s", event_names[e]);
			for (o = 0; o < NR_ORIGINS; o++)
				if (by_origin[o].count)
					fprintf(out, " %10llu",
						by_both[e][o].count);
			fputc('\n', out);
		}
	}
}
