/* SPDX-License-Identifier: MIT */
/*
 * tools/maps: a layout dump (mmk_aspace_dump_layout, include/mmkit/aspace.h)
 * read back and drawn.  Hosted C11, libc only; the body of
 * tools/mmkit-maps, also linked into the hosted demo and the model test.
 * Errors are reported on stderr ("mmkit-maps: FILE:LINE: what").
 */
#ifndef MMKIT_TOOLS_MAPS_H
#define MMKIT_TOOLS_MAPS_H

#include <stdbool.h>
#include <stdio.h>

#define MMKIT_MAPS_EIO	  1 /* reading or writing a file failed */
#define MMKIT_MAPS_EINPUT 2 /* no such dump, or it is malformed */

/** One dump, as read. */
struct mmkit_maps;

/**
 * Read @in (named @in_name in messages; NULL: "<stdin>") and take the
 * dump named @name (NULL: the first) into *@out.  With @list print the
 * name of every dump to stdout instead (*@out stays NULL).  Returns 0,
 * MMKIT_MAPS_EINPUT or MMKIT_MAPS_EIO.
 */
int mmkit_maps_read(FILE *in, const char *in_name, const char *name, bool list,
		    struct mmkit_maps **out);

/** The areas as /proc/PID/maps lines (those of mmk_aspace_dump_maps). */
void mmkit_maps_write_maps(FILE *o, const struct mmkit_maps *m);

/** The picture: areas along the address line, runs, tables, legend. */
void mmkit_maps_write_svg(FILE *o, const struct mmkit_maps *m);

void mmkit_maps_free(struct mmkit_maps *m);

/** Read @in as mmkit_maps_read and write the SVG to @svg_path. */
int mmkit_maps_svg_file(FILE *in, const char *in_name, const char *name,
			const char *svg_path);

#endif
