/* SPDX-License-Identifier: MIT */
/*
 * The ELF loader (include/mmkit/loader.h):
 *
 *   elf.load   load a 1 MiB static x86_64 ELF (512 KiB text, 256 KiB
 *              rodata, 256 KiB data and 256 KiB bss, made here) from a
 *              buffer and build its stack (3 argv, 2 envp strings), us
 *              per load; n = 1 from a buffer (every page copied), n = 2
 *              through the hosted pager (whole file pages mapped
 *              file-private, faulted later; every page in its cache)
 *              bound: memcpy of the image's 1 MiB into another buffer,
 *              as warm as the frames a load gets back (the copy the
 *              buffer load must at least make), same run
 * The space is cleared after each load, untimed.
 */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmk_hosted_pager.h>
#include <mmkit/loader.h>
#include <mmkit/pager.h>

#include <stdlib.h>
#include <string.h>

#define IMG_SIZE (1ull << 20)
#define IMG_VA	 0x400000ull
#define SP_BASE	 0x10000ull
#define SP_SIZE	 (64ull << 30)
#define LOADS	 64

static void put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One program header: type LOAD, flags, file [off, off + fsz) at va. */
static void phdr(uint8_t *ph, uint32_t flags, uint64_t off, uint64_t fsz,
		 uint64_t msz)
{
	put(ph, 1, 4);
	put(ph + 4, flags, 4);
	put(ph + 8, off, 8);
	put(ph + 16, IMG_VA + off, 8);
	put(ph + 24, IMG_VA + off, 8);
	put(ph + 32, fsz, 8);
	put(ph + 40, msz, 8);
	put(ph + 48, 4096, 8);
}

/* A static ELF64 for x86_64 of IMG_SIZE bytes, segments as above. */
static uint8_t *make_image(void)
{
	uint8_t *img = malloc(IMG_SIZE);
	if (!img)
		abort();
	for (uint64_t i = 0; i < IMG_SIZE; i++)
		img[i] = (uint8_t)(i * 7 + 1);
	memset(img, 0, 64 + 3 * 56);
	memcpy(img, "\177ELF\2\1\1", 7);
	put(img + 16, 2, 2);  /* ET_EXEC */
	put(img + 18, 62, 2); /* EM_X86_64 */
	put(img + 20, 1, 4);
	put(img + 24, IMG_VA + 64 + 3 * 56, 8); /* entry */
	put(img + 32, 64, 8);			/* phoff */
	put(img + 52, 64, 2);
	put(img + 54, 56, 2);
	put(img + 56, 3, 2);
	phdr(img + 64, 5, 0, 512 << 10, 512 << 10);	     /* r-x */
	phdr(img + 120, 4, 512 << 10, 256 << 10, 256 << 10); /* r-- */
	phdr(img + 176, 6, 768 << 10, 256 << 10, 512 << 10); /* rw- */
	return img;
}

static double load_us(struct mmk_aspace *as,
		      const struct mmk_loader_source *src)
{
	static const char *const argv[] = {"/bin/big", "-v", "input.txt"};
	static const char *const envp[] = {"HOME=/", "PATH=/bin"};
	static const uint8_t rnd[16] = {1, 2, 3};
	struct mmk_loader_args a = {.argv = argv,
				    .argc = 3,
				    .envp = envp,
				    .envc = 2,
				    .random = rnd};
	struct mmk_loader_result r;
	double v[LOADS];
	for (int i = 0; i < LOADS; i++) {
		uint64_t t0 = mmk_bench_now_ns();
		if (mmk_loader_load(as, src, &a, &r))
			abort();
		v[i] = (double)(mmk_bench_now_ns() - t0) / 1e3;
		mmk_aspace_clear(as);
	}
	return mmk_bench_median(v, LOADS);
}

static double copy_us(const uint8_t *img)
{
	static uint8_t dst[IMG_SIZE];
	double v[LOADS];
	for (int i = 0; i < LOADS; i++) {
		uint64_t t0 = mmk_bench_now_ns();
		memcpy(dst, img, IMG_SIZE);
		MMK_BENCH_SINK(dst);
		v[i] = (double)(mmk_bench_now_ns() - t0) / 1e3;
	}
	return mmk_bench_median(v, LOADS);
}

MMK_BENCH(bench_elf_load, 60)
{
	int reps = mmk_bench_reps();
	double buf[8], file[8], bound[8];
	mmk_hosted_init(0);
	mmk_hosted_prefault();
	struct mmk_frames *fa = mmk_hosted_frames_new();
	uint8_t *img = make_image();
	struct mmk_hosted_file *hf = mmk_hosted_file_new(fa, IMG_SIZE / 4096);
	memcpy(mmk_hosted_file_data(hf), img, IMG_SIZE);
	for (uint64_t i = 0; i < IMG_SIZE / 4096; i++)
		if (mmk_hosted_file_cache(hf, i))
			abort();
	static struct mmk_aspace as;
	if (mmk_aspace_create(&as, SP_BASE, SP_SIZE, MMK_PT_X86_64_4L, 0, fa))
		abort();
	mmk_aspace_activate(&as);
	struct mmk_loader_source sb = {.data = img, .size = IMG_SIZE};
	struct mmk_loader_source sf = {.size = IMG_SIZE,
				       .file = mmk_hosted_file_file(hf)};
	for (int r = 0; r < reps; r++) {
		buf[r] = load_us(&as, &sb);
		file[r] = load_us(&as, &sf);
		bound[r] = copy_us(img);
	}
	mmk_aspace_destroy(&as);
	mmk_hosted_file_destroy(hf);
	mmk_hosted_frames_destroy(fa);
	free(img);
	struct mmk_bench_result res = {.metric = "elf.load",
				       .arch = "x86_64",
				       .n = 1,
				       .value = mmk_bench_median(buf, reps),
				       .unit = "us",
				       .bound = mmk_bench_median(bound, reps)};
	mmk_bench_report(&res);
	res.n = 2;
	res.value = mmk_bench_median(file, reps);
	mmk_bench_report(&res);
}
