/* SPDX-License-Identifier: MIT */
/*
 * The dumps tests/tools/test_maps.py feeds to tools/mmkit-maps: a small
 * process (text, data, heap, a huge-page area, a large anonymous mapping,
 * shared memory, a device window, a guarded stack) before and after a fork,
 * and its fork.  Writes, into DIR:
 *   transcript.txt   the three layout dumps ("before", "parent", "child")
 *                    as a serial console would show them: \r\n line ends,
 *                    a "[uart] " prefix, other lines between and inside
 *   <name>.maps      mmk_aspace_dump_maps of the same space at that moment
 * Exit status 0 when every mmkit call succeeded.
 */
#include <mmk_hosted.h>
#include <mmkit/aspace.h>
#include <mmkit/shm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG 4096ull

static FILE *out;
static int failed;
static unsigned long nline;

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "maps_dump: %s:%d: %s\n", __FILE__,    \
				__LINE__, #c);                                 \
			failed = 1;                                            \
		}                                                              \
	} while (0)

/* A console line: prefixed, \r\n, and now and then another line between. */
static void serial_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(out, "[uart] %s\r\n", line);
	if (++nline % 7 == 3)
		fprintf(out, "[uart] proc 2: write(1, \"hello\") = 5\r\n");
}

static void maps_line(void *ctx, const char *line)
{
	fprintf(ctx, "%s\n", line);
}

static void dump(struct mmk_aspace *as, const char *dir, const char *name)
{
	char path[512];
	CHECK(mmk_aspace_dump_layout(as, name, serial_line, NULL) == 0);
	fprintf(out, "kernel: dumped %s\r\n", name);
	snprintf(path, sizeof(path), "%s/%s.maps", dir, name);
	FILE *m = fopen(path, "w");
	CHECK(m != NULL);
	if (!m)
		exit(1);
	CHECK(mmk_aspace_dump_maps(as, maps_line, m) == 0);
	fclose(m);
}

static void touch(struct mmk_aspace *as, mmk_vaddr_t va, bool write)
{
	uint64_t v = va;
	if (write)
		CHECK(mmk_aspace_write_kernel(as, va, &v, 8) == 0);
	else
		CHECK(mmk_aspace_read_kernel(as, va, &v, 8) == 0);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: maps_dump DIR\n");
		return 1;
	}
	char path[512];
	snprintf(path, sizeof(path), "%s/transcript.txt", argv[1]);
	out = fopen(path, "w");
	if (!out) {
		perror(path);
		return 1;
	}
	fprintf(out, "booting...\r\nmmkit demo: user processes\r\n");
	mmk_hosted_init(0);
	struct mmk_frames *fa = mmk_hosted_frames_new();
	static struct mmk_aspace p, c;
	const mmk_vaddr_t base = 0x10000, top = 0x800000000000ull - 0x10000;
	const uint32_t U = MMK_PT_USER;
	CHECK(mmk_aspace_create(&p, base, top - base, MMK_PT_X86_64_4L, 0,
				fa) == 0);
	CHECK(mmk_aspace_create(&c, base, top - base, MMK_PT_X86_64_4L, 0,
				fa) == 0);
	/* text, data, heap */
	CHECK(mmk_aspace_map_alloc(&p, 0x400000, 16 * PG, MMK_PT_RX | U,
				   true) == 0);
	CHECK(mmk_aspace_map_alloc(&p, 0x600000, 8 * PG, MMK_PT_RW | U, true) ==
	      0);
	CHECK(mmk_aspace_map_alloc(&p, 0x1000000, 64 * PG, MMK_PT_RW | U,
				   false) == 0);
	for (int i = 0; i < 10; i++)
		touch(&p, 0x1000000 + (uint64_t)i * 3 * PG, i % 3 != 0);
	/* huge pages, a large anonymous mapping, shared memory, a device */
	CHECK(mmk_aspace_map_huge(&p, 0x40000000, 4 * MMK_MIB, MMK_PT_RW | U,
				  2 * MMK_MIB, false) == 0);
	touch(&p, 0x40000000, true);
	CHECK(mmk_aspace_map_alloc(&p, 0x7f0000000000, 4 * MMK_MIB,
				   MMK_PT_RW | U, true) == 0);
	struct mmk_shm *shm;
	CHECK(mmk_shm_create(fa, 16 * PG, 12, &shm) == 0);
	CHECK(mmk_aspace_map_shared(&p, 0x7f0000800000, 16 * PG, MMK_PT_RW | U,
				    shm, 0) == 0);
	mmk_shm_put(shm);
	for (int i = 0; i < 4; i++)
		touch(&p, 0x7f0000800000 + (uint64_t)i * PG, true);
	CHECK(mmk_aspace_map_linear(&p, 0x7f0001000000, mmk_pa(0xfe000000),
				    4 * PG, MMK_PT_RW | MMK_PT_MT_DEVICE) == 0);
	/* a stack below its guard page, two pages used */
	mmk_vaddr_t stack = top - 32 * PG;
	CHECK(mmk_aspace_map_guard(&p, stack - PG, PG) == 0);
	CHECK(mmk_aspace_map_alloc(&p, stack, 32 * PG, MMK_PT_RW | U, false) ==
	      0);
	touch(&p, top - 8, true);
	touch(&p, top - PG - 8, true);

	dump(&p, argv[1], "before");
	CHECK(mmk_aspace_clone(&p, &c) == 0);
	/* the child writes its heap and one page of the large mapping */
	touch(&c, 0x1000000 + 3 * PG, true);
	touch(&c, 0x7f0000000000 + 5 * PG, true);
	dump(&p, argv[1], "parent");
	dump(&c, argv[1], "child");
	fprintf(out, "mmkit demo: PASS\r\n");
	fclose(out);
	mmk_aspace_destroy(&c);
	mmk_aspace_destroy(&p);
	mmk_hosted_frames_destroy(fa);
	return failed;
}
