/* SPDX-License-Identifier: MIT */
/*
 * mmkit-maps: read a layout dump (mmk_aspace_dump_layout) from a file or
 * stdin -- a serial transcript is fine -- and write it as /proc/PID/maps
 * text (--maps) and as an SVG picture (--svg FILE).  The work is in
 * tools/maps/maps.c.
 *
 *   mmkit-maps [--name NAME] [--maps] [--svg FILE] [--list] [FILE]
 *
 * Exit status: 0 done, 1 usage or I/O error, 2 no such dump or malformed
 * input.
 */
#include "maps/maps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 1

/* --------------------------------------------------------------- main */
static void usage(FILE *o)
{
	fputs("usage: mmkit-maps [--name NAME] [--maps] [--svg FILE] [--list] "
	      "[FILE]\n"
	      "Reads an mmkit layout dump (mmk_aspace_dump_layout) from FILE "
	      "or stdin\n(a serial transcript is fine) and writes it as "
	      "/proc/PID/maps text\n(--maps, the default) and/or as an SVG "
	      "picture (--svg FILE, - for stdout).\n"
	      "  --name NAME  the dump called NAME (default: the first)\n"
	      "  --list       print the name of every dump found\n"
	      "Exit status: 0 done, 1 usage or I/O error, 2 no such dump or "
	      "malformed input.\n",
	      o);
}

int main(int argc, char **argv)
{
	const char *name = NULL, *svg = NULL, *file = NULL;
	bool maps = false, list = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--maps"))
			maps = true;
		else if (!strcmp(argv[i], "--list"))
			list = true;
		else if (!strcmp(argv[i], "--svg") && i + 1 < argc)
			svg = argv[++i];
		else if (!strcmp(argv[i], "--name") && i + 1 < argc)
			name = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if ((argv[i][0] != '-' || !strcmp(argv[i], "-")) &&
			   !file)
			file = argv[i];
		else {
			fprintf(stderr, "mmkit-maps: bad argument '%s'\n",
				argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!svg && !list)
		maps = true;
	FILE *in = stdin;
	if (file && strcmp(file, "-")) {
		in = fopen(file, "r");
		if (!in) {
			fprintf(stderr, "mmkit-maps: %s: %s\n", file,
				strerror(errno));
			return EXIT_USAGE;
		}
	}
	struct mmkit_maps *d;
	int err =
		mmkit_maps_read(in, in == stdin ? NULL : file, name, list, &d);
	if (in != stdin)
		fclose(in);
	if (err || list)
		return err;
	if (svg) {
		FILE *o = strcmp(svg, "-") ? fopen(svg, "w") : stdout;
		if (!o) {
			fprintf(stderr, "mmkit-maps: %s: %s\n", svg,
				strerror(errno));
			return EXIT_USAGE;
		}
		mmkit_maps_write_svg(o, d);
		int bad = ferror(o);
		if (o == stdout)
			bad |= fflush(o);
		else
			bad |= fclose(o);
		if (bad) {
			fprintf(stderr, "mmkit-maps: %s: write error\n", svg);
			return EXIT_USAGE;
		}
	}
	if (maps)
		mmkit_maps_write_maps(stdout, d);
	mmkit_maps_free(d);
	return fflush(stdout) ? EXIT_USAGE : 0;
}
