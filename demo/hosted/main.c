/* SPDX-License-Identifier: MIT */
/*
 * The hosted demo: mmkit's layers put to work in Linux user space, each
 * step printed.  It grows with every layer; the QEMU demo kernels do the
 * same on real (emulated) MMUs.
 */
#include <mmk_hosted.h>
#include <mmkit/aspace.h>
#include <mmkit/frame.h>
#include <mmkit/pt.h>
#include <mmkit/shm.h>
#include <mmkit/slab.h>

#include "maps/maps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define STEP(ok, ...)                                                          \
	do {                                                                   \
		bool ok_ = (ok);                                               \
		printf("  [%s] ", ok_ ? " ok " : "FAIL");                      \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		failures += !ok_;                                              \
	} while (0)

static struct mmk_frames frames;

static void demo_frames(void)
{
	struct mmk_bootmem bm;
	printf("frames: a 256 MiB machine with a hole and a reserved range\n");
	mmk_bootmem_init(&bm);
	uint64_t base = mmk_hosted_phys_base().v;
	mmk_bootmem_add_ram(&bm, mmk_pa(base), 128 * MMK_MIB);
	mmk_bootmem_add_ram(&bm, mmk_pa(base + 192 * MMK_MIB), 64 * MMK_MIB);
	mmk_bootmem_reserve(&bm, mmk_pa(base), 2 * MMK_MIB); /* "kernel" */
	mmk_paddr_t early;
	int err = mmk_bootmem_alloc(&bm, 3 * 4096, 4096, &early);
	STEP(err == 0 && early.v == base + 2 * MMK_MIB,
	     "bootmem: early allocation of 3 pages at %#llx",
	     (unsigned long long)early.v);
	err = mmk_frames_init(&frames, &bm);
	struct mmk_frame_stats st;
	mmk_frames_stats(&frames, &st);
	STEP(err == 0, "buddy: takes over %llu free pages (%llu MiB)",
	     (unsigned long long)st.total_pages,
	     (unsigned long long)(st.total_pages >> 8));

	mmk_paddr_t a, b, c;
	mmk_frame_alloc(&frames, 0, MMK_FRAME_ZERO, &a);
	mmk_frame_alloc(&frames, 9, 0, &b);
	mmk_frame_alloc(&frames, 14, 0, &c);
	STEP(b.v % (2 * MMK_MIB) == 0 && c.v % (64 * MMK_MIB) == 0,
	     "alloc: page %#llx, 2 MiB block %#llx, 64 MiB block %#llx "
	     "(naturally aligned)",
	     (unsigned long long)a.v, (unsigned long long)b.v,
	     (unsigned long long)c.v);
	mmk_frame_get(&frames, a);
	STEP(mmk_frame_refcount(&frames, a) == 2 &&
		     mmk_frame_put(&frames, a) == 0 &&
		     mmk_frame_put(&frames, a) == 1,
	     "refcount: get -> 2, put -> 1, put -> freed");
	mmk_hosted_log_reset(true);
	STEP(mmk_frame_free(&frames, a) == MMK_EDOUBLEFREE,
	     "double free refused: %s", mmk_hosted_last_log());
	STEP(mmk_frame_free(&frames, mmk_pa_add(b, 4096)) == MMK_EBADFREE,
	     "free inside a block refused: %s", mmk_hosted_last_log());
	STEP(mmk_frame_free(&frames, mmk_pa(base + 150 * MMK_MIB)) ==
		     MMK_EBADFREE,
	     "free in the hole refused: %s", mmk_hosted_last_log());
	mmk_hosted_log_reset(false);
	mmk_frame_free(&frames, b);
	mmk_frame_free(&frames, c);
	mmk_frames_drain(&frames);
	mmk_frames_stats(&frames, &st);
	STEP(st.allocated_pages == 0 && mmk_frames_check(&frames) == 0,
	     "all freed: buddies coalesced, invariants hold");
}

static void print_line(void *ctx, const char *line)
{
	printf("      %s%s\n", (const char *)ctx, line);
}

static void demo_page_tables(void)
{
	printf("page tables: the same 8 MiB region in every format\n");
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt pt;
		struct mmk_pt_info info;
		if (mmk_pt_create(&pt, (enum mmk_pt_format_id)id, 0, &frames))
			continue;
		mmk_pt_info(&pt, &info);
		/* 8 MiB at 1 GiB + 2 MiB - 16 KiB: base pages at the edges,
		 * huge pages where alignment allows */
		uint64_t ps = (uint64_t)1 << info.page_shift;
		mmk_vaddr_t va = (1ull << 30) + (2ull << 20) * 4 - 4 * ps;
		mmk_paddr_t pa =
			mmk_pa(0x40000000ull + (2ull << 20) * 4 - 4 * ps);
		struct mmk_tlb_gather b;
		mmk_tlb_gather_init(&b, NULL, 0);
		int err = mmk_pt_map_region(&pt, va, pa, 8 * MMK_MIB, MMK_PT_RW,
					    MMK_PT_MAP_HUGE, &b);
		long tables = mmk_pt_table_pages(&pt);
		mmk_paddr_t q;
		uint64_t size = 0;
		int qerr = mmk_pt_query(&pt, va + 5 * MMK_MIB, &q, NULL, &size);
		STEP(err == 0 && qerr == 0 && q.v == pa.v + 5 * MMK_MIB,
		     "%-18s map 8 MiB: %ld table pages, va %#llx -> pa %#llx "
		     "in a %llu KiB page",
		     info.name, tables, (unsigned long long)(va + 5 * MMK_MIB),
		     (unsigned long long)q.v, (unsigned long long)(size >> 10));
		if (id == MMK_PT_RISCV_SV39)
			mmk_pt_dump(&pt, va, 8 * MMK_MIB, MMK_PT_DUMP_RUNS,
				    print_line, "");
		err = mmk_pt_unmap_region(&pt, va, 8 * MMK_MIB, &b, NULL, NULL);
		mmk_tlb_gather_finish(&b);
		STEP(err == 0 && mmk_pt_table_pages(&pt) == 1,
		     "%-18s unmap: emptied tables freed, root alone left",
		     info.name);
		mmk_pt_destroy(&pt);
	}
}

static void demo_aspace(void)
{
	printf("address space: riscv64 Sv39 user space with lazy memory\n");
	static struct mmk_aspace as;
	long live0 = mmk_hosted_live_frames();
	int err = mmk_aspace_create(&as, 0x10000, (1ull << 38) - 0x10000,
				    MMK_PT_RISCV_SV39, 0, &frames);
	STEP(err == 0, "create [0x10000, 256 GiB)");
	mmk_vaddr_t heap;
	mmk_aspace_find_free_area(&as, 0x100000, 16 * MMK_MIB, 0, ~0ull, 0,
				  &heap);
	err = mmk_aspace_map_alloc(&as, heap, 16 * MMK_MIB,
				   MMK_PT_RW | MMK_PT_USER, false);
	long after_map = mmk_hosted_live_frames();
	STEP(err == 0, "map 16 MiB lazily at %#llx: %ld frames used so far",
	     (unsigned long long)heap, after_map - live0);
	int faults = 0;
	for (mmk_vaddr_t va = heap; va < heap + 64 * 4096; va += 4096)
		faults +=
			mmk_aspace_handle_page_fault(&as, va, MMK_ACCESS_WRITE);
	STEP(faults == 64 && !mmk_aspace_handle_page_fault(
				     &as, heap + 32 * MMK_MIB, MMK_ACCESS_READ),
	     "64 first-touch faults mapped 64 zeroed pages; a fault outside "
	     "every area is refused");
	char msg[] = "hello from a lazily mapped page";
	char back[sizeof(msg)] = {0};
	err = mmk_aspace_write(&as, heap + 3 * MMK_MIB - 5, msg, sizeof(msg));
	err |= mmk_aspace_read(&as, heap + 3 * MMK_MIB - 5, back, sizeof(back));
	STEP(err == 0 && strcmp(msg, back) == 0,
	     "write+read across a page boundary (faults the pages in): \"%s\"",
	     back);
	mmk_hosted_flush_reset();
	err = mmk_aspace_protect(&as, heap + 4096, 4096,
				 MMK_PT_READ | MMK_PT_USER);
	STEP(err == 0 &&
		     mmk_aspace_write(&as, heap + 4096, "x", 1) == MMK_EFAULT,
	     "protect one page read-only: areas split, writes refused, "
	     "%zu areas",
	     mmk_aspace_area_count(&as));
	mmk_aspace_dump_maps(&as, print_line, "");
	err = mmk_aspace_unmap(&as, heap, 16 * MMK_MIB);
	mmk_aspace_destroy(&as);
	STEP(err == 0 && mmk_hosted_live_frames() == live0,
	     "unmap + destroy: every frame and table page back");
}

/* The layout dump, to a memory buffer (a kernel would print it). */
static void mem_line(void *ctx, const char *line)
{
	fprintf(ctx, "%s\n", line);
}

static void touch(struct mmk_aspace *as, mmk_vaddr_t va, bool write, int *err)
{
	uint64_t v = va;
	*err |= write ? mmk_aspace_write_kernel(as, va, &v, 8)
		      : mmk_aspace_read_kernel(as, va, &v, 8);
}

/*
 * A forked process drawn: text, data, a heap touched here and there,
 * huge pages, a large anonymous mapping, shared memory, a guarded stack;
 * fork, then the child writes a little.  Its layout dump becomes
 * MMK_MAPS_SVG (build/maps-hosted.svg) through tools/maps.
 */
static void demo_fork_picture(void)
{
	printf("picture: a forked process (riscv64 Sv39) as SVG\n");
	static struct mmk_aspace p, c;
	const mmk_vaddr_t base = 0x10000, top = 1ull << 38;
	const uint32_t U = MMK_PT_USER;
	const uint64_t pg = 4096;
	int err = mmk_aspace_create(&p, base, top - base, MMK_PT_RISCV_SV39, 0,
				    &frames);
	err |= mmk_aspace_create(&c, base, top - base, MMK_PT_RISCV_SV39, 0,
				 &frames);
	err |= mmk_aspace_map_alloc(&p, 0x10000, 24 * pg, MMK_PT_RX | U, true);
	err |= mmk_aspace_map_alloc(&p, 0x200000, 8 * pg, MMK_PT_RW | U, true);
	err |= mmk_aspace_map_alloc(&p, 0x400000, 256 * pg, MMK_PT_RW | U,
				    false);
	for (uint64_t i = 0; i < 40; i++)
		touch(&p, 0x400000 + i * i * 7 % 256 * pg, i % 4 != 0, &err);
	err |= mmk_aspace_map_huge(&p, 0x40000000, 6 * MMK_MIB, MMK_PT_RW | U,
				   2 * MMK_MIB, false);
	touch(&p, 0x40000000, true, &err);
	touch(&p, 0x40400000, true, &err);
	err |= mmk_aspace_map_alloc(&p, 0x3f00000000, 8 * MMK_MIB,
				    MMK_PT_RW | U, true);
	struct mmk_shm *shm = NULL;
	err |= mmk_shm_create(&frames, 32 * pg, 12, &shm);
	if (shm) {
		err |= mmk_aspace_map_shared(&p, 0x3f01000000, 32 * pg,
					     MMK_PT_RW | U, shm, 0);
		mmk_shm_put(shm);
	}
	for (uint64_t i = 0; i < 6; i++)
		touch(&p, 0x3f01000000 + i * 2 * pg, true, &err);
	mmk_vaddr_t stack = top - 64 * pg;
	err |= mmk_aspace_map_guard(&p, stack - pg, pg);
	err |= mmk_aspace_map_alloc(&p, stack, 64 * pg, MMK_PT_RW | U, false);
	for (uint64_t i = 1; i <= 5; i++)
		touch(&p, top - i * pg, true, &err);
	err |= mmk_aspace_clone(&p, &c);
	/* the child writes its heap, its stack and the big mapping */
	touch(&c, 0x400000 + 7 * pg, true, &err);
	touch(&c, top - pg, true, &err);
	touch(&c, 0x3f00000000 + 3 * MMK_MIB, true, &err);
	touch(&c, 0x40000000, true, &err);
	STEP(err == 0,
	     "a process with %zu areas forked; the child wrote 4 "
	     "pages, copying them",
	     mmk_aspace_area_count(&c));

	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int derr = m ? mmk_aspace_dump_layout(&c, "forked child", mem_line, m)
		     : -1;
	if (m)
		fclose(m);
	FILE *in = buf ? fmemopen(buf, len, "r") : NULL;
	int serr = in ? mmkit_maps_svg_file(in, "the layout dump",
					    "forked child", MMK_MAPS_SVG)
		      : -1;
	if (in)
		fclose(in);
	STEP(derr == 0 && serr == 0, "layout dump (%zu bytes) drawn: %s", len,
	     MMK_MAPS_SVG);
	free(buf);
	mmk_aspace_destroy(&c);
	mmk_aspace_destroy(&p);
}

static void demo_slab(void)
{
	printf("objects: kmalloc over the buddy allocator\n");
	int err = mmk_kmalloc_init(&frames);
	void *p[6];
	size_t sizes[6] = {8, 60, 500, 4000, 8192, 100000};
	for (int i = 0; i < 6; i++)
		p[i] = mmk_kmalloc(sizes[i]);
	STEP(err == 0 && p[0] && p[5],
	     "kmalloc 8, 60, 500, 4000, 8192, 100000 bytes: usable %zu, %zu, "
	     "%zu, %zu, %zu, %zu",
	     mmk_ksize(p[0]), mmk_ksize(p[1]), mmk_ksize(p[2]), mmk_ksize(p[3]),
	     mmk_ksize(p[4]), mmk_ksize(p[5]));
	for (int i = 0; i < 6; i++)
		mmk_kfree(p[i]);
	STEP(mmk_kmalloc_fini() == 0, "kfree all; caches torn down, no leak");
}

int main(void)
{
	mmk_hosted_init(0);
	printf("mmkit hosted demo (physical memory: %llu MiB arena at "
	       "phys %#llx, host %p)\n",
	       (unsigned long long)(mmk_hosted_arena_size() >> 20),
	       (unsigned long long)mmk_hosted_phys_base().v,
	       mmk_hosted_arena());
	demo_frames();
	demo_page_tables();
	demo_aspace();
	demo_fork_picture();
	demo_slab();
	printf(failures ? "mmkit demo: FAIL: %d step(s)\n"
			: "mmkit demo: PASS\n",
	       failures);
	return failures ? 1 : 0;
}
