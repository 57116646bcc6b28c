/* SPDX-License-Identifier: MIT */
/*
 * The summary table printed when the traced command is done: counts and
 * bytes of the invalidations umn reported, by event and by source, over
 * every traced process (children and exec'd programs included: they all
 * send their records to the same tool).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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
static unsigned long processes; /* distinct process ids */
static unsigned long images;    /* programs run: each exec counts */
static unsigned long threads_created;

static unsigned long loss_count[LOSS_NR];
static unsigned long loss_procs[LOSS_NR];
#define LOSS_KEEP 8 /* programs named in the summary, per kind */
static struct { int pid; char what[160]; } loss_named[LOSS_NR][LOSS_KEEP];

/* distinct process ids seen (open addressing, grows) */
static int *pid_set;
static size_t pid_cap;

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

	(void)pid;
	(void)tid;
	add(&by_event[e], bytes);
	add(&by_origin[o], bytes);
	add(&by_both[e][o], bytes);
	total++;
}

static bool pid_insert(int *set, size_t cap, int pid)
{
	size_t h = ((unsigned int)pid * 2654435761u) & (cap - 1);

	while (set[h]) {
		if (set[h] == pid)
			return false;
		h = (h + 1) & (cap - 1);
	}
	set[h] = pid;
	return true;
}

/* A program image is ready in pid: a new process, or an exec in it. */
void summary_process(int pid)
{
	images++;
	if ((processes + 1) * 2 > pid_cap) {
		size_t ncap = pid_cap ? pid_cap * 2 : 64, i;
		int *n = calloc(ncap, sizeof(*n));

		if (!n)
			return; /* counts only: stop counting, do not fail */
		for (i = 0; i < pid_cap; i++)
			if (pid_set[i])
				pid_insert(n, ncap, pid_set[i]);
		free(pid_set);
		pid_set = n;
		pid_cap = ncap;
	}
	if (pid_insert(pid_set, pid_cap, pid))
		processes++;
}

/* pid created one more thread (pthread_create in the preload). */
void summary_thread(int pid)
{
	(void)pid;
	threads_created++;
}

void summary_loss(enum loss_kind kind, int pid, unsigned long n,
		  const char *what)
{
	unsigned long k = loss_procs[kind];

	loss_count[kind] += n;
	if (k && loss_named[kind][(k - 1) % LOSS_KEEP].pid == pid && !what)
		return; /* the same process again */
	loss_procs[kind]++;
	if (k < LOSS_KEEP) {
		loss_named[kind][k].pid = pid;
		snprintf(loss_named[kind][k].what,
			 sizeof(loss_named[kind][k].what), "%s",
			 what ? what : "");
	}
}

unsigned long summary_losses(void)
{
	return loss_count[LOSS_RECORDS] + loss_count[LOSS_STATIC] +
	       loss_count[LOSS_FOREIGN] + loss_count[LOSS_NOPRELOAD];
}

static void print_losses(FILE *out)
{
	static const char *const text[LOSS_NR] = {
		[LOSS_RECONNECT] = "closed the preload's connection to umn; "
			"it reconnected, no record lost",
		[LOSS_RECORDS] = "LOST records: umn trace could not be "
			"reached",
		[LOSS_STATIC] = "ran a statically linked program, NOT "
			"OBSERVED: no preload can be loaded there",
		[LOSS_FOREIGN] = "ran a program for another architecture, "
			"NOT OBSERVED: the preload cannot be loaded there",
		[LOSS_NOPRELOAD] = "ran a program whose environment drops "
			"LD_PRELOAD, NOT OBSERVED",
	};
	unsigned int k;
	unsigned long i;

	for (k = 0; k < LOSS_NR; k++) {
		if (!loss_procs[k])
			continue;
		fprintf(out, "umn: summary: %lu process%s %s (%lu %s)\n",
			loss_procs[k], loss_procs[k] == 1 ? "" : "es", text[k],
			loss_count[k], k == LOSS_RECORDS ?
			(loss_count[k] == 1 ? "record" : "records") :
			loss_count[k] == 1 ? "time" : "times");
		for (i = 0; i < loss_procs[k] && i < LOSS_KEEP; i++)
			fprintf(out, "umn: summary:   pid %d%s%s\n",
				loss_named[k][i].pid,
				loss_named[k][i].what[0] ? ": " : "",
				loss_named[k][i].what);
		if (loss_procs[k] > LOSS_KEEP)
			fprintf(out, "umn: summary:   (%lu more)\n",
				loss_procs[k] - LOSS_KEEP);
	}
	if (summary_losses())
		fprintf(out, "umn: summary: this trace is INCOMPLETE (see "
			"above)\n");
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

	/* every process has its main thread; an exec keeps it */
	unsigned long threads = processes + threads_created;
	char progs[64] = "";

	if (images != processes)
		snprintf(progs, sizeof(progs), " (%lu programs run)", images);
	fprintf(out,
		"umn: summary: %llu invalidations in %lu process%s%s, %lu thread%s\n",
		total, processes, processes == 1 ? "" : "es", progs, threads,
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
	print_losses(out);
}

static void json_counter(FILE *out, const char *name,
			 const struct counter *c, bool *first)
{
	fprintf(out, "%s\"%s\":{\"count\":%llu,\"bytes\":%llu}",
		*first ? "" : ",", name, c->count, c->bytes);
	*first = false;
}

/* The summary as one JSON object (--json); field names are documented in
 * doc/umn.1.md. */
void summary_print_json(FILE *out)
{
	static const char *const keys[LOSS_NR] = {
		[LOSS_RECONNECT] = "reconnected", [LOSS_RECORDS] = "lost_records",
		[LOSS_STATIC] = "static", [LOSS_FOREIGN] = "foreign",
		[LOSS_NOPRELOAD] = "no_preload",
	};
	unsigned int e, o, k;
	unsigned long i;
	bool first = true;

	fprintf(out, "{\"type\":\"summary\",\"invalidations\":%llu,"
		"\"processes\":%lu,\"programs\":%lu,\"threads\":%lu,"
		"\"by_event\":{", total, processes, images,
		processes + threads_created);
	for (e = 0; e < NR_EVENTS; e++)
		if (by_event[e].count)
			json_counter(out, event_names[e], &by_event[e], &first);
	fputs("},\"by_source\":{", out);
	first = true;
	for (o = 0; o < NR_ORIGINS; o++)
		if (by_origin[o].count)
			json_counter(out, origin_names[o], &by_origin[o], &first);
	fputs("},\"losses\":{", out);
	first = true;
	for (k = 0; k < LOSS_NR; k++) {
		if (!loss_procs[k])
			continue;
		fprintf(out, "%s\"%s\":{\"count\":%lu,\"processes\":%lu,"
			"\"pids\":[", first ? "" : ",", keys[k], loss_count[k],
			loss_procs[k]);
		first = false;
		for (i = 0; i < loss_procs[k] && i < LOSS_KEEP; i++)
			fprintf(out, "%s%d", i ? "," : "", loss_named[k][i].pid);
		fputs("],\"programs\":[", out);
		for (i = 0; i < loss_procs[k] && i < LOSS_KEEP; i++) {
			if (i)
				fputc(',', out);
			json_string(out, loss_named[k][i].what);
		}
		fputs("]}", out);
	}
	fprintf(out, "},\"complete\":%s}\n", summary_losses() ? "false" : "true");
}
