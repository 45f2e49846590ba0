/* SPDX-License-Identifier: MIT */
/*
 * tools/maps: reading a layout dump (mmk_aspace_dump_layout) and writing
 * it as /proc/PID/maps text and as an SVG picture; the body of
 * tools/mmkit-maps, linked into the hosted demo and the model test too.
 * Hosted C11, libc only.  See maps.h.
 *
 * The input may be a serial transcript: everything outside the lines
 * MMKIT-MAPS-BEGIN <name> ... MMKIT-MAPS-END is skipped, \r\n line ends
 * are fine, text before the BEGIN marker on its line (a prefix the
 * kernel's console adds) is taken off every line of the dump, and lines
 * inside a dump that are not records of it (other output interleaved) are
 * skipped.  Records themselves are checked strictly; a malformed or cut
 * short dump is an error (MMKIT_MAPS_EINPUT), the message on stderr.
 */
#include "maps.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEVELS   5
#define LINE_MAX_LEN 4096

struct run {
	uint64_t start, end, psize;
	bool pop, shared;
	char perms[4];
};

struct area {
	uint64_t start, end, offset;
	uint32_t flags;
	char perms[5];
	char backend[64];
	size_t first_run, nruns;
};

struct mmkit_maps {
	char name[128];
	unsigned version;
	char format[64];
	uint64_t page_size, base, end;
	struct area *areas;
	size_t nareas, cap_areas;
	struct run *runs;
	size_t nruns, cap_runs;
	unsigned levels;
	long tables[MAX_LEVELS];
	unsigned long table_bytes[MAX_LEVELS];
	long shared_leaf;
	bool have_format, have_tables, have_total;
	unsigned long skipped; /* interleaved lines */
};

static const char *input_name = "<stdin>";
static unsigned long line_no;
static jmp_buf *fail_jmp; /* where a reading error goes */

static _Noreturn void die_input(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "mmkit-maps: %s:%lu: ", input_name, line_no);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	longjmp(*fail_jmp, MMKIT_MAPS_EINPUT);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fprintf(stderr, "mmkit-maps: out of memory\n");
		exit(EXIT_FAILURE);
	}
	return p;
}

/* ------------------------------------------------------------ parsing */
/* Split @s in place into at most @max space-separated fields. */
static size_t split(char *s, char **f, size_t max)
{
	size_t n = 0;
	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		if (n == max)
			return max + 1; /* too many */
		f[n++] = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		if (*s)
			*s++ = '\0';
	}
	return n;
}

static uint64_t hex(const char *s, const char *what)
{
	if (!*s || strlen(s) > 16)
		die_input("bad %s '%s' (hex number expected)", what, s);
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			die_input("bad %s '%s' (hex number expected)", what, s);
		v = v << 4 | (uint64_t)d;
	}
	return v;
}

static long dec(const char *s, const char *what)
{
	char *e;
	errno = 0;
	long v = strtol(s, &e, 10);
	if (!*s || *e || errno || v < 0)
		die_input("bad %s '%s' (decimal count expected)", what, s);
	return v;
}

static void range(const char *s, uint64_t *a, uint64_t *b, const char *what)
{
	char buf[40];
	const char *dash = strchr(s, '-');
	if (!dash || (size_t)(dash - s) >= sizeof(buf))
		die_input("bad %s '%s' (start-end expected)", what, s);
	memcpy(buf, s, (size_t)(dash - s));
	buf[dash - s] = '\0';
	*a = hex(buf, what);
	*b = hex(dash + 1, what);
	if (*b <= *a)
		die_input("empty %s '%s'", what, s);
}

static bool perms_ok(const char *p, size_t n)
{
	static const char yes[] = "rwx";
	if (strlen(p) != n)
		return false;
	for (size_t i = 0; i < 3; i++)
		if (p[i] != yes[i] && p[i] != '-')
			return false;
	return n == 3 || p[3] == 'p' || p[3] == 's';
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static struct area *cur_area(struct mmkit_maps *d)
{
	return d->nareas ? &d->areas[d->nareas - 1] : NULL;
}

/* The runs of the last area cover it exactly. */
static void close_area(struct mmkit_maps *d)
{
	struct area *a = cur_area(d);
	if (!a)
		return;
	uint64_t at = a->nruns ? d->runs[d->nruns - 1].end : a->start;
	if (at != a->end)
		die_input("runs of area %" PRIx64 "-%" PRIx64 " end at %" PRIx64
			  ", not at its end",
			  a->start, a->end, at);
}

static void rec_format(struct mmkit_maps *d, char **f, size_t n)
{
	if (d->have_format)
		die_input("second 'format' line");
	if (n != 5)
		die_input("'format' needs 4 fields: version, page-table "
			  "format, base page, base-end");
	long v = dec(f[1], "version");
	if (v != 1)
		die_input("layout version %ld not supported (this tool reads "
			  "version 1)",
			  v);
	d->version = (unsigned)v;
	snprintf(d->format, sizeof(d->format), "%s", f[2]);
	d->page_size = hex(f[3], "base page");
	if (!is_pow2(d->page_size) || d->page_size < 1024)
		die_input("bad base page size %s", f[3]);
	range(f[4], &d->base, &d->end, "space range");
	d->have_format = true;
}

static void rec_area(struct mmkit_maps *d, char **f, size_t n)
{
	if (d->have_tables)
		die_input("'area' after 'tables'");
	if (n != 6)
		die_input("'area' needs 5 fields: start-end, perms, offset, "
			  "flags, backend");
	close_area(d);
	struct area a = {0};
	range(f[1], &a.start, &a.end, "area range");
	if (!perms_ok(f[2], 4))
		die_input("bad area permissions '%s' (e.g. rw-p)", f[2]);
	snprintf(a.perms, sizeof(a.perms), "%s", f[2]);
	a.offset = hex(f[3], "offset");
	uint64_t fl = hex(f[4], "flags");
	if (fl > 0xffffffffu)
		die_input("bad area flags '%s'", f[4]);
	a.flags = (uint32_t)fl;
	if (strlen(f[5]) >= sizeof(a.backend))
		die_input("backend name too long");
	snprintf(a.backend, sizeof(a.backend), "%s", f[5]);
	if ((a.start | a.end) & (d->page_size - 1))
		die_input("area %s not aligned to the base page", f[1]);
	if (a.start < d->base || a.end > d->end)
		die_input("area %s outside the space", f[1]);
	struct area *prev = cur_area(d);
	if (prev && a.start < prev->end)
		die_input("area %s overlaps or precedes the one before", f[1]);
	a.first_run = d->nruns;
	if (d->nareas == d->cap_areas) {
		d->cap_areas = d->cap_areas ? 2 * d->cap_areas : 16;
		d->areas = xrealloc(d->areas, d->cap_areas * sizeof(*d->areas));
	}
	d->areas[d->nareas++] = a;
}

static void rec_run(struct mmkit_maps *d, char **f, size_t n)
{
	struct area *a = cur_area(d);
	if (!a || d->have_tables)
		die_input("'run' outside an area");
	if (n != 6)
		die_input("'run' needs 5 fields: start-end, pop|lazy, leaf "
			  "size, rwx, own|shared");
	struct run r = {0};
	range(f[1], &r.start, &r.end, "run range");
	if (!strcmp(f[2], "pop"))
		r.pop = true;
	else if (strcmp(f[2], "lazy"))
		die_input("bad run kind '%s' (pop or lazy)", f[2]);
	r.psize = hex(f[3], "leaf size");
	if (!is_pow2(r.psize) || r.psize < d->page_size)
		die_input("bad leaf size '%s'", f[3]);
	if (!perms_ok(f[4], 3))
		die_input("bad page rights '%s' (e.g. r-x)", f[4]);
	snprintf(r.perms, sizeof(r.perms), "%s", f[4]);
	if (!strcmp(f[5], "shared"))
		r.shared = true;
	else if (strcmp(f[5], "own"))
		die_input("bad leaf table '%s' (own or shared)", f[5]);
	uint64_t at = a->nruns ? d->runs[d->nruns - 1].end : a->start;
	if (r.start != at || r.end > a->end)
		die_input("run %s does not continue area %" PRIx64 "-%" PRIx64
			  " (next page %" PRIx64 ")",
			  f[1], a->start, a->end, at);
	if (d->nruns == d->cap_runs) {
		d->cap_runs = d->cap_runs ? 2 * d->cap_runs : 64;
		d->runs = xrealloc(d->runs, d->cap_runs * sizeof(*d->runs));
	}
	d->runs[d->nruns++] = r;
	a->nruns++;
}

static void rec_tables(struct mmkit_maps *d, char **f, size_t n)
{
	if (d->have_tables)
		die_input("second 'tables' line");
	close_area(d);
	if (n < 2)
		die_input("'tables' needs the number of levels");
	long lv = dec(f[1], "levels");
	if (lv < 1 || lv > MAX_LEVELS)
		die_input("bad number of levels %ld", lv);
	if (n != (size_t)lv + 4 || strcmp(f[n - 2], "shared"))
		die_input("'tables %ld' needs %ld <pages>:<bytes> fields, then "
			  "'shared <n>'",
			  lv, lv);
	d->levels = (unsigned)lv;
	for (long i = 0; i < lv; i++) {
		char *c = strchr(f[2 + i], ':');
		if (!c)
			die_input("bad table count '%s' (pages:bytes)",
				  f[2 + i]);
		*c = '\0';
		d->tables[i] = dec(f[2 + i], "table pages");
		d->table_bytes[i] = (unsigned long)hex(c + 1, "table bytes");
		if (!is_pow2(d->table_bytes[i]))
			die_input("bad table page size '%s'", c + 1);
	}
	d->shared_leaf = dec(f[n - 1], "shared leaf tables");
	if (d->shared_leaf > d->tables[0])
		die_input("more shared leaf tables than leaf tables");
	d->have_tables = true;
}

static void rec_total(struct mmkit_maps *d, char **f, size_t n)
{
	if (!d->have_tables)
		die_input("'total' before 'tables'");
	if (n != 3)
		die_input("'total' needs 2 fields: areas, runs");
	long na = dec(f[1], "area count"), nr = dec(f[2], "run count");
	if ((size_t)na != d->nareas || (size_t)nr != d->nruns)
		die_input("dump has %zu areas and %zu runs, its total says "
			  "%ld and %ld (lines lost?)",
			  d->nareas, d->nruns, na, nr);
	d->have_total = true;
}

/* One line inside the wanted dump.  False: not a record (skipped). */
static bool record(struct mmkit_maps *d, char *line)
{
	char *f[16];
	char *s = line;
	while (*s == ' ' || *s == '\t')
		s++;
	static const char *const kw[] = {"format", "area",  "run",
					 "tables", "total", "error"};
	size_t k;
	for (k = 0; k < sizeof(kw) / sizeof(kw[0]); k++) {
		size_t l = strlen(kw[k]);
		if (!strncmp(s, kw[k], l) && (s[l] == ' ' || s[l] == '\0'))
			break;
	}
	if (k == sizeof(kw) / sizeof(kw[0]))
		return false;
	size_t n = split(s, f, 15);
	if (n > 15)
		die_input("too many fields");
	if (d->have_total)
		die_input("'%s' after 'total'", f[0]);
	if (k != 0 && !d->have_format)
		die_input("'%s' before the 'format' line", f[0]);
	switch (k) {
	case 0:
		rec_format(d, f, n);
		break;
	case 1:
		rec_area(d, f, n);
		break;
	case 2:
		rec_run(d, f, n);
		break;
	case 3:
		rec_tables(d, f, n);
		break;
	case 4:
		rec_total(d, f, n);
		break;
	default:
		die_input("the dump reports an error: %s", line);
	}
	return true;
}

#define BEGIN "MMKIT-MAPS-BEGIN"
#define END   "MMKIT-MAPS-END"

/* Read @in; fill @d with the dump named @want (the first if NULL).  With
 * @list, print every dump's name instead.  Returns false if none. */
static bool read_dump(FILE *in, const char *want, bool list,
		      struct mmkit_maps *d)
{
	static char buf[LINE_MAX_LEN];
	char prefix[LINE_MAX_LEN];
	bool inside = false, taking = false;
	unsigned long begin_line = 0, ndumps = 0;
	size_t plen = 0;
	while (fgets(buf, sizeof(buf), in)) {
		line_no++;
		size_t len = strlen(buf);
		bool whole = len && buf[len - 1] == '\n';
		if (!whole && !feof(in)) {
			if (taking)
				die_input("line longer than %d bytes",
					  LINE_MAX_LEN - 2);
			int c;
			while ((c = fgetc(in)) != EOF && c != '\n')
				;
			continue;
		}
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
			       buf[len - 1] == ' '))
			buf[--len] = '\0';
		char *line = buf;
		char *mb = strstr(line, BEGIN);
		if (mb &&
		    (mb[strlen(BEGIN)] == ' ' || mb[strlen(BEGIN)] == '\0')) {
			if (taking)
				die_input("dump '%s' (line %lu) has no " END
					  " before the next " BEGIN
					  " (cut short?)",
					  d->name, begin_line);
			const char *nm = mb + strlen(BEGIN);
			while (*nm == ' ')
				nm++;
			inside = true;
			ndumps++;
			begin_line = line_no;
			plen = (size_t)(mb - line);
			memcpy(prefix, line, plen);
			if (list) {
				printf("%s\n", *nm ? nm : "-");
				continue;
			}
			if (!want || !strcmp(want, nm)) {
				taking = true;
				memset(d, 0, sizeof(*d));
				snprintf(d->name, sizeof(d->name), "%s",
					 *nm ? nm : "-");
			}
			continue;
		}
		if (!inside)
			continue;
		if (plen && !strncmp(line, prefix, plen))
			line += plen;
		while (*line == ' ' || *line == '\t')
			line++;
		if (!strcmp(line, END)) {
			inside = false;
			if (taking) {
				if (!d->have_format)
					die_input("dump '%s' has no 'format' "
						  "line",
						  d->name);
				if (!d->have_total)
					die_input("dump '%s' ends without its "
						  "'tables' and 'total' lines",
						  d->name);
				return true;
			}
			continue;
		}
		if (taking && !record(d, line))
			d->skipped++;
	}
	if (ferror(in)) {
		fprintf(stderr, "mmkit-maps: %s: read error: %s\n", input_name,
			strerror(errno));
		longjmp(*fail_jmp, MMKIT_MAPS_EIO);
	}
	if (taking)
		die_input("dump '%s' (line %lu) has no " END " (cut short?)",
			  d->name, begin_line);
	if (list)
		return ndumps > 0;
	return false;
}

/* -------------------------------------------------------------- maps */
void mmkit_maps_write_maps(FILE *o, const struct mmkit_maps *d)
{
	for (size_t i = 0; i < d->nareas; i++) {
		const struct area *a = &d->areas[i];
		fprintf(o,
			"%08" PRIx64 "-%08" PRIx64 " %s %08" PRIx64
			" 00:00 0 %s\n",
			a->start, a->end, a->perms, a->offset,
			strcmp(a->backend, "-") ? a->backend : "");
	}
}

/* --------------------------------------------------------------- svg */
#define SVG_W	     1200.0
#define MARGIN	     20.0
#define ROW_H	     120.0
#define BOX_Y	     26.0 /* box top within a row */
#define BOX_H	     44.0
#define SHARED_COLOR "#c51b8a"
#define PT_ROW	     90 /* table squares per row */

static const char *backend_color(const char *name)
{
	static const struct {
		const char *name, *color;
	} known[] = {
		{"alloc", "#4e79a7"},	{"linear", "#f28e2b"},
		{"huge", "#e15759"},	{"shared", "#76b7b2"},
		{"file", "#59a14f"},	{"guard", "#bab0ac"},
		{"vmalloc", "#edc948"}, {"vmap", "#b07aa1"},
	};
	static const char *const other[] = {"#ff9da7", "#9c755f", "#86bcb6",
					    "#d4a6c8"};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(name, known[i].name))
			return known[i].color;
	unsigned h = 0;
	for (const char *p = name; *p; p++)
		h = h * 31u + (unsigned char)*p;
	return other[h % 4];
}

static void xml_text(FILE *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", o);
			break;
		case '>':
			fputs("&gt;", o);
			break;
		case '&':
			fputs("&amp;", o);
			break;
		case '"':
			fputs("&quot;", o);
			break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, o);
		}
	}
}

static void size_text(char *b, size_t n, uint64_t v)
{
	static const char *const u[] = {"B",   "KiB", "MiB", "GiB",
					"TiB", "PiB", "EiB"};
	unsigned i = 0;
	double x = (double)v;
	while (x >= 1023.95 && i < 6) { /* no "1024.0 KiB" */
		x /= 1024;
		i++;
	}
	if (x == (double)(uint64_t)x)
		snprintf(b, n, "%.0f %s", x, u[i]);
	else
		snprintf(b, n, "%.1f %s", x, u[i]);
}

static double log2p(double v)
{
	return v > 1 ? log2(v) : 0;
}

static double area_w(const struct mmkit_maps *d, const struct area *a)
{
	double w = 110 + 12 * log2p((double)(a->end - a->start) /
				    (double)d->page_size);
	return w > 420 ? 420 : w;
}

/* Gaps are log-scaled: 16 px for one page, 5 px more per doubling. */
static double gap_w(const struct mmkit_maps *d, uint64_t gap)
{
	double w = 16 + 5 * log2p((double)gap / (double)d->page_size);
	return w > 170 ? 170 : w;
}

struct layout_pos {
	double x, y;
};

/* Next position for a piece @w wide, wrapping to a new row. */
static struct layout_pos place(struct layout_pos *p, double w, double top)
{
	if (p->x + w > SVG_W - MARGIN && p->x > MARGIN) {
		p->x = MARGIN;
		p->y += ROW_H;
	}
	struct layout_pos at = {p->x, top + p->y};
	p->x += w;
	return at;
}

static void svg_gap(FILE *o, const struct mmkit_maps *d, struct layout_pos *p,
		    double top, uint64_t s, uint64_t e)
{
	char sz[32];
	double w = gap_w(d, e - s);
	struct layout_pos at = place(p, w, top);
	double my = at.y + BOX_Y + BOX_H / 2;
	size_text(sz, sizeof(sz), e - s);
	fprintf(o,
		"<g class=\"gap\" data-start=\"%" PRIx64
		"\" data-end=\"%" PRIx64 "\"><title>gap %" PRIx64 "-%" PRIx64
		" (%s)</title>"
		"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
		"stroke=\"#888\" stroke-dasharray=\"3,3\"/>",
		s, e, s, e, sz, at.x + 2, my, at.x + w - 2, my);
	if (w >= 40)
		fprintf(o,
			"<text x=\"%.1f\" y=\"%.1f\" class=\"gaplabel\" "
			"text-anchor=\"middle\">%s</text>",
			at.x + w / 2, my - 5, sz);
	fputs("</g>\n", o);
}

static void svg_area(FILE *o, const struct mmkit_maps *d, size_t idx,
		     struct layout_pos *p, double top)
{
	const struct area *a = &d->areas[idx];
	const char *col = backend_color(a->backend);
	double w = area_w(d, a);
	struct layout_pos at = place(p, w + 4, top);
	double x = at.x + 2, y = at.y + BOX_Y,
	       span = (double)(a->end - a->start);
	char sz[32];
	size_text(sz, sizeof(sz), a->end - a->start);
	uint64_t pop = 0;
	for (size_t i = 0; i < a->nruns; i++) {
		const struct run *r = &d->runs[a->first_run + i];
		if (r->pop)
			pop += r->end - r->start;
	}
	char psz[32];
	size_text(psz, sizeof(psz), pop);
	fprintf(o,
		"<g class=\"area\" id=\"area-%zu\" data-start=\"%" PRIx64
		"\" data-end=\"%" PRIx64 "\" data-backend=\"",
		idx, a->start, a->end);
	xml_text(o, a->backend);
	fprintf(o, "\" data-perms=\"%s\"><title>%" PRIx64 "-%" PRIx64 " %s ",
		a->perms, a->start, a->end, a->perms);
	xml_text(o, a->backend);
	fprintf(o, ", %s, %s populated, offset %" PRIx64 "</title>\n", sz, psz,
		a->offset);
	fprintf(o,
		"<rect class=\"area-box\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		"height=\"%.1f\" fill=\"%s\" fill-opacity=\"0.18\" "
		"stroke=\"%s\"/>\n",
		x, y, w, BOX_H, col, col);
	for (size_t i = 0; i < a->nruns; i++) {
		const struct run *r = &d->runs[a->first_run + i];
		double rx = x + w * (double)(r->start - a->start) / span;
		double rw = w * (double)(r->end - r->start) / span;
		if (rw < 1)
			rw = 1;
		bool huge = r->pop && r->psize > d->page_size;
		char rs[32];
		size_text(rs, sizeof(rs), r->end - r->start);
		fprintf(o,
			"<g class=\"run %s%s\"><title>%" PRIx64 "-%" PRIx64
			" %s: %s, %s%s</title>",
			r->pop ? "pop" : "lazy", huge ? " huge" : "", r->start,
			r->end, rs,
			r->pop ? (huge ? "huge pages" : "populated")
			       : "lazy (not yet faulted)",
			r->perms, r->shared ? ", leaf table shared" : "");
		if (r->pop) {
			fprintf(o,
				"<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
				"height=\"%.1f\" fill=\"%s\"/>",
				rx, y, rw, BOX_H, col);
			if (!strchr(r->perms, 'w') && strchr(a->perms, 'w'))
				fprintf(o,
					"<rect class=\"ro\" x=\"%.2f\" "
					"y=\"%.1f\" width=\"%.2f\" "
					"height=\"%.1f\" fill=\"url(#ro)\"/>",
					rx, y, rw, BOX_H);
		}
		if (huge) {
			fprintf(o,
				"<rect class=\"huge-mark\" x=\"%.2f\" "
				"y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
				"fill=\"url(#huge)\" stroke=\"#222\" "
				"stroke-width=\"1.5\"/>",
				rx, y, rw, BOX_H);
			double step = w * (double)r->psize / span;
			if (step >= 4)
				for (uint64_t v = r->start + r->psize;
				     v < r->end; v += r->psize) {
					double tx =
						x + w * (double)(v - a->start) /
							    span;
					fprintf(o,
						"<line x1=\"%.2f\" y1=\"%.1f\" "
						"x2=\"%.2f\" y2=\"%.1f\" "
						"stroke=\"#222\"/>",
						tx, y, tx, y + BOX_H);
				}
		}
		if (r->shared)
			fprintf(o,
				"<rect class=\"shared-leaf\" x=\"%.2f\" "
				"y=\"%.1f\" width=\"%.2f\" height=\"6\" "
				"fill=\"" SHARED_COLOR "\"/>",
				rx, y + BOX_H + 2, rw);
		fputs("</g>\n", o);
	}
	fprintf(o, "<text x=\"%.1f\" y=\"%.1f\" class=\"label\">", x, y - 14);
	xml_text(o, a->backend);
	fprintf(o, " %s</text>\n", a->perms);
	fprintf(o,
		"<text x=\"%.1f\" y=\"%.1f\" class=\"small\">%s, %s pop"
		"</text>\n",
		x, y - 4, sz, psz);
	fprintf(o,
		"<text x=\"%.1f\" y=\"%.1f\" class=\"addr\">%" PRIx64
		"</text>\n<text x=\"%.1f\" y=\"%.1f\" class=\"addr\" "
		"text-anchor=\"end\">%" PRIx64 "</text>\n</g>\n",
		x, y + BOX_H + 18, a->start, x + w, y + BOX_H + 29, a->end);
}

static double svg_tables(FILE *o, const struct mmkit_maps *d, double top)
{
	long total = 0;
	uint64_t bytes = 0;
	for (unsigned l = 0; l < d->levels; l++) {
		total += d->tables[l];
		bytes += (uint64_t)d->tables[l] * d->table_bytes[l];
	}
	char bs[32];
	size_text(bs, sizeof(bs), bytes);
	fprintf(o,
		"<g class=\"tables\"><text x=\"%.1f\" y=\"%.1f\" "
		"class=\"label\">Page tables: %ld pages, %s (%ld leaf "
		"tables shared with another space)</text>\n",
		MARGIN, top + 14, total, bs, d->shared_leaf);
	double y = top + 24;
	for (unsigned k = 0; k < d->levels; k++) {
		unsigned l = d->levels - 1 - k; /* root first */
		char tb[32];
		size_text(tb, sizeof(tb), d->table_bytes[l]);
		fprintf(o,
			"<text x=\"%.1f\" y=\"%.1f\" class=\"small\">level %u"
			"%s: %ld x %s</text>",
			MARGIN, y + 9, l,
			l == d->levels - 1 ? " (root)"
			: l == 0	   ? " (leaf tables)"
					   : "",
			d->tables[l], tb);
		long shown = d->tables[l] > 400 ? 400 : d->tables[l];
		for (long i = 0; i < shown; i++) {
			bool sh = l == 0 && i < d->shared_leaf;
			fprintf(o,
				"<rect class=\"pt-page%s\" x=\"%.1f\" "
				"y=\"%.1f\" width=\"8\" height=\"10\" "
				"fill=\"%s\"/>",
				sh ? " shared" : "",
				MARGIN + 200 + (double)(i % PT_ROW) * 10,
				y + (double)(i / PT_ROW) * 12,
				sh ? SHARED_COLOR : "#555");
		}
		if (shown < d->tables[l])
			fprintf(o,
				"<text x=\"%.1f\" y=\"%.1f\" class=\"small\">"
				"+%ld</text>",
				MARGIN + 200 + PT_ROW * 10 + 4, y + 9,
				d->tables[l] - shown);
		fputc('\n', o);
		y += 12 * (double)(shown > 0 ? (shown + PT_ROW - 1) / PT_ROW
					     : 1) +
		     4;
	}
	fputs("</g>\n", o);
	return y;
}

/* A legend entry at *@x: @swatch (SVG drawn at x, y), then @text. */
static void legend_item(FILE *o, double *x, double y, const char *swatch,
			const char *text)
{
	fprintf(o, swatch, *x, y, *x, y);
	fprintf(o, "<text x=\"%.1f\" y=\"%.1f\" class=\"small\">", *x + 18,
		y + 11);
	xml_text(o, text);
	fputs("</text>\n", o);
	*x += 18 + 5.6 * (double)strlen(text) + 16;
}

static double svg_legend(FILE *o, const struct mmkit_maps *d, double top)
{
	double x = MARGIN;
	char sw[160];
	fprintf(o, "<g class=\"legend\">\n");
	/* each backend present, once */
	for (size_t i = 0; i < d->nareas; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= !strcmp(d->areas[i].backend,
					d->areas[j].backend);
		if (seen)
			continue;
		snprintf(sw, sizeof(sw),
			 "<rect class=\"legend-backend\" x=\"%%.1f\" "
			 "y=\"%%.1f\" width=\"14\" height=\"14\" "
			 "fill=\"%s\"/>",
			 backend_color(d->areas[i].backend));
		legend_item(o, &x, top, sw, d->areas[i].backend);
	}
	x += 14;
	legend_item(o, &x, top,
		    "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" "
		    "fill=\"#777\"/>",
		    "populated");
	legend_item(o, &x, top,
		    "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" "
		    "fill=\"#777\" fill-opacity=\"0.18\" stroke=\"#777\"/>",
		    "lazy (not yet faulted)");
	legend_item(o, &x, top,
		    "<g><rect x=\"%.1f\" y=\"%.1f\" width=\"14\" "
		    "height=\"14\" fill=\"#777\"/><rect x=\"%.1f\" "
		    "y=\"%.1f\" width=\"14\" height=\"14\" "
		    "fill=\"url(#ro)\"/></g>",
		    "read-only now (copy-on-write, zero page)");
	legend_item(o, &x, top,
		    "<g><rect x=\"%.1f\" y=\"%.1f\" width=\"14\" "
		    "height=\"14\" fill=\"#777\"/><rect x=\"%.1f\" "
		    "y=\"%.1f\" width=\"14\" height=\"14\" "
		    "fill=\"url(#huge)\" stroke=\"#222\"/></g>",
		    "huge pages");
	legend_item(o, &x, top,
		    "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"6\" "
		    "fill=\"" SHARED_COLOR "\" transform=\"translate(0,4)\"/>",
		    "leaf table shared (fork)");
	fputs("</g>\n", o);
	return top + 24;
}

void mmkit_maps_write_svg(FILE *o, const struct mmkit_maps *d)
{
	/* first pass: the height the rows take */
	struct layout_pos p = {MARGIN, 0};
	uint64_t at = d->base;
	for (size_t i = 0; i < d->nareas; i++) {
		if (d->areas[i].start > at)
			place(&p, gap_w(d, d->areas[i].start - at), 0);
		place(&p, area_w(d, &d->areas[i]) + 4, 0);
		at = d->areas[i].end;
	}
	if (d->end > at)
		place(&p, gap_w(d, d->end - at), 0);
	double rows_h = p.y + ROW_H;
	double tables_h = 40;
	for (unsigned l = 0; l < d->levels; l++) {
		long s = d->tables[l] > 400 ? 400 : d->tables[l];
		tables_h +=
			12 * (double)(s > 0 ? (s + PT_ROW - 1) / PT_ROW : 1) +
			4;
	}
	double title_h = 50, legend_h = 30;
	double h = title_h + legend_h + rows_h + tables_h + MARGIN;

	uint64_t mapped = 0, pop = 0;
	for (size_t i = 0; i < d->nareas; i++)
		mapped += d->areas[i].end - d->areas[i].start;
	for (size_t i = 0; i < d->nruns; i++)
		if (d->runs[i].pop)
			pop += d->runs[i].end - d->runs[i].start;
	char ms[32], ps[32];
	size_text(ms, sizeof(ms), mapped);
	size_text(ps, sizeof(ps), pop);

	fprintf(o,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
		"height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
		"font-family=\"monospace\">\n",
		SVG_W, h, SVG_W, h);
	fputs("<style>.label{font-size:11px;font-weight:bold}"
	      ".small{font-size:9px}.addr{font-size:9px;fill:#333}"
	      ".gaplabel{font-size:8px;fill:#666}"
	      ".title{font-size:15px;font-weight:bold}</style>\n"
	      "<defs><pattern id=\"huge\" width=\"6\" height=\"6\" "
	      "patternUnits=\"userSpaceOnUse\" "
	      "patternTransform=\"rotate(45)\"><rect width=\"2\" height=\"6\" "
	      "fill=\"#fff\" fill-opacity=\"0.55\"/></pattern>"
	      "<pattern id=\"ro\" width=\"4\" height=\"4\" "
	      "patternUnits=\"userSpaceOnUse\"><circle cx=\"2\" cy=\"2\" "
	      "r=\"0.9\" fill=\"#fff\" fill-opacity=\"0.8\"/></pattern>"
	      "</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n",
	      o);
	fprintf(o, "<text x=\"%.1f\" y=\"22\" class=\"title\">", MARGIN);
	xml_text(o, d->name);
	fprintf(o,
		": %zu areas, %s mapped, %s populated</text>\n"
		"<text x=\"%.1f\" y=\"38\" class=\"small\">",
		d->nareas, ms, ps, MARGIN);
	xml_text(o, d->format);
	fprintf(o,
		", space %" PRIx64 "-%" PRIx64
		"; areas drawn to a log scale of their size, gaps log-scaled "
		"(labelled), pages inside an area to scale</text>\n",
		d->base, d->end);
	double y = svg_legend(o, d, title_h);
	p.x = MARGIN;
	p.y = 0;
	at = d->base;
	for (size_t i = 0; i < d->nareas; i++) {
		if (d->areas[i].start > at)
			svg_gap(o, d, &p, y, at, d->areas[i].start);
		svg_area(o, d, i, &p, y);
		at = d->areas[i].end;
	}
	if (d->end > at)
		svg_gap(o, d, &p, y, at, d->end);
	svg_tables(o, d, y + p.y + ROW_H);
	fputs("</svg>\n", o);
}

/* ------------------------------------------------------------ entries */
void mmkit_maps_free(struct mmkit_maps *m)
{
	if (!m)
		return;
	free(m->areas);
	free(m->runs);
	free(m);
}

int mmkit_maps_read(FILE *in, const char *in_name, const char *name, bool list,
		    struct mmkit_maps **out)
{
	jmp_buf jb;
	struct mmkit_maps *volatile d = calloc(1, sizeof(*d));
	*out = NULL;
	if (!d) {
		fprintf(stderr, "mmkit-maps: out of memory\n");
		return MMKIT_MAPS_EIO;
	}
	input_name = in_name ? in_name : "<stdin>";
	line_no = 0;
	fail_jmp = &jb;
	int err = setjmp(jb);
	if (err) {
		mmkit_maps_free(d);
		return err;
	}
	bool found = read_dump(in, name, list, d);
	if (list || !found) {
		mmkit_maps_free(d);
		if (list)
			return found ? 0 : MMKIT_MAPS_EINPUT;
		if (name)
			fprintf(stderr, "mmkit-maps: %s: no dump named '%s'\n",
				input_name, name);
		else
			fprintf(stderr,
				"mmkit-maps: %s: no " BEGIN " line: no "
				"dump in the input\n",
				input_name);
		return MMKIT_MAPS_EINPUT;
	}
	*out = d;
	return 0;
}

int mmkit_maps_svg_file(FILE *in, const char *in_name, const char *name,
			const char *svg_path)
{
	struct mmkit_maps *m;
	int err = mmkit_maps_read(in, in_name, name, false, &m);
	if (err)
		return err;
	FILE *o = fopen(svg_path, "w");
	if (!o) {
		fprintf(stderr, "mmkit-maps: %s: %s\n", svg_path,
			strerror(errno));
		mmkit_maps_free(m);
		return MMKIT_MAPS_EIO;
	}
	mmkit_maps_write_svg(o, m);
	int bad = ferror(o);
	bad |= fclose(o);
	mmkit_maps_free(m);
	if (bad) {
		fprintf(stderr, "mmkit-maps: %s: write error\n", svg_path);
		return MMKIT_MAPS_EIO;
	}
	return 0;
}
