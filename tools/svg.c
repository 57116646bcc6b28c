/* SPDX-License-Identifier: MIT */
/*
 * umn trace --svg FILE: the address space over time, as an SVG picture a
 * browser shows (written here, no library).  Time runs left to right.
 * Each process with events gets a panel (the busiest four); in a panel
 * the address space is cut into bands -- the stretches of it where events
 * fell, with the heap and the main stack always shown -- high addresses at
 * the top, each band linear in address and labelled with its range and
 * what is mapped there (from /proc/PID/maps read when the process became
 * ready: [heap], [stack], file names; anonymous memory otherwise).  An
 * event is a mark at its time over its range, coloured by event type; an
 * event over (nearly) the whole address space -- release at exit -- is a
 * dashed line across the panel.  Marks that would land on the same pixels
 * are drawn once.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

#define MAX_EVENTS  (4ul << 20)  /* kept for the picture; more are counted */
#define MAX_PANELS  4
#define MAX_BANDS   8
#define HUGE_RANGE  (1ul << 40)   /* wider: drawn as a line across */
#define BAND_GAP    (64ul << 20)  /* closer stretches share a band */

struct sev {
	unsigned long t, start, end;
	int pid;
	unsigned char event;
};

struct region {
	unsigned long start, end;
	char label[48];
	char kind; /* 'h' heap, 's' stack, 'f' file, 'o' other [..] */
};

struct proc {
	int pid;
	char exe[64];
	struct region *r;
	size_t nr, capr;
	unsigned long nev;
};

struct band {
	unsigned long start, end, nev;
	int y, h;
};

static struct sev *evs;
static size_t nev, capev;
static unsigned long ev_dropped;
static struct proc *procs;
static size_t nprocs, capprocs;

static const char *const colours[] = {
	"#d62728", /* unmap */
	"#ff7f0e", /* clear */
	"#1f77b4", /* protection_vma */
	"#17becf", /* protection_page */
	"#9467bd", /* soft_dirty */
	"#8c564b", /* release */
	"#e377c2", /* migrate */
	"#7f7f7f", /* exclusive */
	"#000000", /* other */
};

static const char *colour(unsigned int event)
{
	return colours[event < 8 ? event : 8];
}

static void *grow_array(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;

	if (need <= *cap)
		return p;
	while (ncap < need)
		ncap *= 2;
	p = realloc(p, ncap * elem);
	if (p)
		*cap = ncap;
	return p;
}

static struct proc *proc_get(int pid)
{
	struct proc *p;
	size_t i;

	for (i = nprocs; i-- > 0;)
		if (procs[i].pid == pid)
			return &procs[i];
	p = grow_array(procs, &capprocs, nprocs + 1, sizeof(*procs));
	if (!p)
		return NULL;
	procs = p;
	p = &procs[nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	return p;
}

void svg_event(unsigned long t_ns, int pid, unsigned int event,
	       unsigned long start, unsigned long end)
{
	struct proc *p = proc_get(pid);
	struct sev *n;

	if (!p || end <= start)
		return;
	p->nev++;
	if (nev >= MAX_EVENTS) {
		ev_dropped++;
		return;
	}
	n = grow_array(evs, &capev, nev + 1, sizeof(*evs));
	if (!n) {
		ev_dropped++;
		return;
	}
	evs = n;
	evs[nev++] = (struct sev){ t_ns, start, end, pid,
				   (unsigned char)(event < 8 ? event : 8) };
}

static void add_region(struct proc *p, unsigned long s, unsigned long e,
		       const char *label, char kind)
{
	struct region *r;

	/* a library's several mappings are one region */
	if (p->nr && p->r[p->nr - 1].kind == kind &&
	    !strcmp(p->r[p->nr - 1].label, label) &&
	    s - p->r[p->nr - 1].end < (1ul << 20)) {
		p->r[p->nr - 1].end = e;
		return;
	}
	r = grow_array(p->r, &p->capr, p->nr + 1, sizeof(*r));
	if (!r)
		return;
	p->r = r;
	r = &p->r[p->nr++];
	r->start = s;
	r->end = e;
	r->kind = kind;
	snprintf(r->label, sizeof(r->label), "%s", label);
}

void svg_process(int pid)
{
	char path[64], line[PATH_MAX + 128], exe[PATH_MAX];
	struct proc *p = proc_get(pid);
	FILE *f;
	ssize_t n;

	if (!p)
		return;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		const char *b;

		exe[n] = 0;
		b = strrchr(exe, '/');
		snprintf(p->exe, sizeof(p->exe), "%.63s", b ? b + 1 : exe);
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return; /* already gone: bands stay unlabelled */
	p->nr = 0; /* a new image: its map replaces the old one */
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		int off = 0;
		char *name, *b;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &s, &e, &off) < 2 ||
		    !off)
			continue;
		name = line + off;
		name[strcspn(name, "\n")] = 0;
		if (!*name)
			continue; /* anonymous */
		if (!strcmp(name, "[heap]"))
			add_region(p, s, e, name, 'h');
		else if (!strcmp(name, "[stack]"))
			add_region(p, s, e, name, 's');
		else if (name[0] == '[')
			add_region(p, s, e, name, 'o');
		else {
			b = strrchr(name, '/');
			add_region(p, s, e, b ? b + 1 : name, 'f');
		}
	}
	fclose(f);
}

/* ---- writing ------------------------------------------------------------- */

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, f);
		}
	}
}

static void time_label(char *buf, size_t len, unsigned long ns)
{
	if (ns >= 10000000000ul)
		snprintf(buf, len, "%.0f s", ns / 1e9);
	else if (ns >= 1000000000ul)
		snprintf(buf, len, "%.2f s", ns / 1e9);
	else if (ns >= 1000000ul)
		snprintf(buf, len, "%.0f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.2f ms", ns / 1e6);
}

static int cmp_proc_busy(const void *a, const void *b)
{
	const struct proc *x = *(struct proc *const *)a;
	const struct proc *y = *(struct proc *const *)b;

	return x->nev < y->nev ? 1 : x->nev > y->nev ? -1 : 0;
}

struct span {
	unsigned long start, end, nev;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_span_busy(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->nev < y->nev ? 1 : x->nev > y->nev ? -1 : 0;
}

/* The bands of process p: stretches with events, the heap and stack. */
static size_t make_bands(const struct proc *p, struct band *out)
{
	struct span *sp = NULL, *m;
	size_t ns = 0, cap = 0, nm = 0, i, k;

	for (i = 0; i < nev; i++) {
		if (evs[i].pid != p->pid || evs[i].end - evs[i].start >= HUGE_RANGE)
			continue;
		m = grow_array(sp, &cap, ns + 1, sizeof(*sp));
		if (!m)
			break;
		sp = m;
		sp[ns++] = (struct span){ evs[i].start, evs[i].end, 1 };
	}
	for (i = 0; i < p->nr; i++) {
		if (p->r[i].kind != 'h' && p->r[i].kind != 's')
			continue;
		m = grow_array(sp, &cap, ns + 1, sizeof(*sp));
		if (!m)
			break;
		sp = m;
		sp[ns++] = (struct span){ p->r[i].start, p->r[i].end, 0 };
	}
	if (!ns) {
		free(sp);
		return 0;
	}
	qsort(sp, ns, sizeof(*sp), cmp_span);
	for (i = 1; i < ns; i++) { /* merge in place into sp[0..nm] */
		if (sp[i].start <= sp[nm].end + BAND_GAP) {
			if (sp[i].end > sp[nm].end)
				sp[nm].end = sp[i].end;
			sp[nm].nev += sp[i].nev;
		} else {
			sp[++nm] = sp[i];
		}
	}
	nm++;
	if (nm > MAX_BANDS) { /* the busiest, then back in address order */
		qsort(sp, nm, sizeof(*sp), cmp_span_busy);
		nm = MAX_BANDS;
		qsort(sp, nm, sizeof(*sp), cmp_span);
	}
	for (k = 0; k < nm; k++) { /* high addresses first (top) */
		const struct span *s = &sp[nm - 1 - k];

		out[k].start = s->start & ~4095ul;
		out[k].end = (s->end + 4095) & ~4095ul;
		out[k].nev = s->nev;
	}
	free(sp);
	return nm;
}

/* pixel rows of [s, e) in band b (clipped), min 3 px */
static bool band_rows(const struct band *b, unsigned long s, unsigned long e,
		      int *y0, int *y1)
{
	double span = (double)(b->end - b->start);
	double top, bot;

	if (e <= b->start || s >= b->end)
		return false;
	if (s < b->start)
		s = b->start;
	if (e > b->end)
		e = b->end;
	top = b->y + (double)(b->end - e) / span * b->h;
	bot = b->y + (double)(b->end - s) / span * b->h;
	*y0 = (int)top;
	*y1 = (int)(bot + 0.999);
	if (*y1 - *y0 < 3)
		*y1 = *y0 + 3;
	if (*y1 > b->y + b->h) {
		*y1 = b->y + b->h;
		*y0 = *y1 - 3;
	}
	return true;
}

/* drawn-once set over (x, y0, y1, event) */
static unsigned long *seen;
static size_t seen_cap;

static bool first_time(unsigned long key)
{
	size_t h;

	key += 1; /* 0 is empty */
	h = (size_t)(key * 0x9E3779B97F4A7C15ul) & (seen_cap - 1);
	while (seen[h]) {
		if (seen[h] == key)
			return false;
		h = (h + 1) & (seen_cap - 1);
	}
	seen[h] = key;
	return true;
}

enum { WIDTH = 1280, LEFT = 330, PLOT = 900, BAND_H = 64, BAND_SEP = 10 };

static void draw_panel(FILE *f, const struct proc *p, int *y,
		       unsigned long t_end)
{
	struct band b[MAX_BANDS];
	size_t nb = make_bands(p, b), i, k;
	int yy = *y + 22;
	unsigned long drawn = 0;

	fprintf(f, "<text x=\"10\" y=\"%d\" class=\"h\">process %d", *y + 14,
		p->pid);
	if (p->exe[0]) {
		fputs(" (", f);
		xml_text(f, p->exe);
		fputc(')', f);
	}
	fprintf(f, ": %lu invalidation%s</text>\n", p->nev,
		p->nev == 1 ? "" : "s");
	for (i = 0; i < nb; i++) {
		char sz[32], lab[160];
		size_t nl = 0;
		int ty;

		b[i].y = yy;
		b[i].h = BAND_H;
		yy += BAND_H + BAND_SEP;
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
			"class=\"band\"/>\n", LEFT, b[i].y, PLOT, b[i].h);
		/* what is mapped there */
		lab[0] = 0;
		for (k = 0; k < p->nr; k++) {
			const struct region *r = &p->r[k];
			int y0, y1;

			if (!band_rows(&b[i], r->start, r->end, &y0, &y1))
				continue;
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" "
				"height=\"%d\" class=\"r%c\"/>\n", LEFT, y0,
				PLOT, y1 - y0, r->kind);
			if (y1 - y0 >= 11) {
				fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"in\">",
					LEFT + PLOT - 4, y0 + 10);
				xml_text(f, r->label);
				fputs("</text>\n", f);
			}
			if (nl < 3 && strlen(lab) + strlen(r->label) + 3 < sizeof(lab)) {
				if (nl)
					strcat(lab, ", ");
				strcat(lab, r->label);
				nl++;
			} else if (nl == 3) {
				strcat(lab, ", ...");
				nl++;
			}
		}
		format_size(sz, sizeof(sz), b[i].end - b[i].start);
		ty = b[i].y + 13;
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"a\">%#lx</text>\n",
			LEFT - 6, ty, b[i].end);
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"a\">%#lx</text>\n",
			LEFT - 6, b[i].y + b[i].h - 3, b[i].start);
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"l\">", LEFT - 6,
			b[i].y + b[i].h / 2 + 4);
		xml_text(f, lab[0] ? lab : "anonymous memory");
		fprintf(f, " (%s)</text>\n", sz);
	}
	/* the events */
	for (i = 0; i < nev; i++) {
		const struct sev *e = &evs[i];
		int x, y0, y1;

		if (e->pid != p->pid)
			continue;
		x = LEFT + (int)((double)e->t / (double)(t_end ? t_end : 1) *
				 (PLOT - 2));
		if (e->end - e->start >= HUGE_RANGE) {
			if (!nb)
				continue;
			fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
				"stroke=\"%s\" class=\"whole\"><title>%s of the "
				"whole address space</title></line>\n", x,
				b[0].y, x, b[nb - 1].y + b[nb - 1].h,
				colour(e->event), event_name(e->event));
			continue;
		}
		for (k = 0; k < nb; k++) {
			if (!band_rows(&b[k], e->start, e->end, &y0, &y1))
				continue;
			if (!first_time((unsigned long)x << 40 |
					(unsigned long)y0 << 24 |
					(unsigned long)y1 << 4 | e->event))
				continue;
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"3\" "
				"height=\"%d\" fill=\"%s\"/>\n", x, y0, y1 - y0,
				colour(e->event));
			drawn++;
		}
	}
	(void)drawn;
	*y = yy + 8;
}

int svg_write(FILE *f, const char *cmd, unsigned long t_end)
{
	struct proc **order;
	unsigned long total = 0;
	size_t i, npanel, nshown;
	int y, height, k;
	char tl[32];
	bool used[9] = { false };

	order = calloc(nprocs ? nprocs : 1, sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (i = 0, npanel = 0; i < nprocs; i++) {
		total += procs[i].nev;
		if (procs[i].nev)
			order[npanel++] = &procs[i];
	}
	qsort(order, npanel, sizeof(*order), cmp_proc_busy);
	nshown = npanel < MAX_PANELS ? npanel : MAX_PANELS;
	for (i = 0; i < nev; i++)
		used[evs[i].event] = true;
	seen_cap = 1u << 20;
	seen = calloc(seen_cap, sizeof(*seen));
	if (!seen) {
		free(order);
		return -ENOMEM;
	}
	/* height: title, panels, axis, legend */
	height = 70;
	for (i = 0; i < nshown; i++) {
		struct band b[MAX_BANDS];
		size_t nb = make_bands(order[i], b);

		height += 30 + (int)nb * (BAND_H + BAND_SEP);
	}
	height += 90;

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
		"<style>\n"
		"text { font-size: 12px; fill: #222; }\n"
		".t { font-size: 16px; font-weight: bold; }\n"
		".h { font-size: 13px; font-weight: bold; }\n"
		".a { font-size: 10px; fill: #666; text-anchor: end; font-family: monospace; }\n"
		".l { text-anchor: end; }\n"
		".in { font-size: 10px; fill: #555; text-anchor: end; }\n"
		".band { fill: #fafafa; stroke: #bbb; }\n"
		".rh { fill: #e3f1dc; } .rs { fill: #dde8f6; }\n"
		".rf { fill: #f3eedd; } .ro { fill: #eeeeee; }\n"
		".whole { stroke-width: 1.5; stroke-dasharray: 4 3; }\n"
		".axis { stroke: #888; }\n"
		"</style>\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		WIDTH, height, WIDTH, height);
	fputs("<text x=\"10\" y=\"22\" class=\"t\">umn trace ", f);
	xml_text(f, cmd);
	fputs("</text>\n", f);
	time_label(tl, sizeof(tl), t_end);
	fprintf(f, "<text x=\"10\" y=\"42\">%lu invalidations in %zu "
		"process%s over %s; time left to right, addresses high to low "
		"in each band%s</text>\n", total, npanel,
		npanel == 1 ? "" : "es", tl,
		npanel > nshown ? " (the busiest processes only)" : "");
	y = 56;
	for (i = 0; i < nshown; i++)
		draw_panel(f, order[i], &y, t_end);
	if (!nshown) {
		fprintf(f, "<text x=\"10\" y=\"%d\">no invalidation was "
			"reported</text>\n", y + 20);
		y += 30;
	}
	/* time axis */
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>\n",
		LEFT, y, LEFT + PLOT, y);
	for (k = 0; k <= 5; k++) {
		int x = LEFT + k * PLOT / 5;

		time_label(tl, sizeof(tl), t_end / 5 * (unsigned long)k);
		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
			"class=\"axis\"/>\n<text x=\"%d\" y=\"%d\" "
			"text-anchor=\"middle\">%s</text>\n", x, y, x, y + 5,
			x, y + 18, tl);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"l\">time since umn "
		"started</text>\n", LEFT - 40, y + 18);
	/* legend */
	y += 40;
	for (k = 0, i = 0; k < 9; k++) {
		int x = LEFT + (int)i * 150;

		if (!used[k])
			continue;
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" "
			"fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n", x,
			y - 10, colour((unsigned int)k), x + 16, y,
			event_name((unsigned int)k));
		i++;
	}
	fprintf(f, "<text x=\"10\" y=\"%d\">events:</text>\n", y);
	if (ev_dropped)
		fprintf(f, "<text x=\"10\" y=\"%d\">(%lu events beyond the "
			"first %lu are not drawn)</text>\n", y + 20, ev_dropped,
			MAX_EVENTS);
	fputs("</svg>\n", f);
	free(seen);
	seen = NULL;
	free(order);
	for (i = 0; i < nprocs; i++)
		free(procs[i].r);
	free(procs);
	free(evs);
	procs = NULL;
	evs = NULL;
	nprocs = capprocs = nev = capev = 0;
	if (ferror(f) | fclose(f))
		return -EIO;
	return 0;
}
