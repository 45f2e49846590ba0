/* SPDX-License-Identifier: MIT */
/*
 * The ELF loader (include/mmkit/loader.h) on static and PIE images built
 * for each architecture by tests/loader/CMakeLists.txt from prog.c:
 * every segment's bytes and rights, the bss zero, the stack word by word,
 * the break; malformed images (a table of mutations of a good image, each
 * with its error, the space unchanged); memory running out at every
 * allocation; loading through the hosted pager.
 */
#include "../aspace/aspace_test.h"

#include <mmk_hosted_pager.h>
#include <mmkit/backend.h>
#include <mmkit/loader.h>
#include <mmkit/pager.h>

#include <elf.h>
#include <stdio.h>
#include <string.h>

#define BASE  0x10000ull
#define SPACE (16 * MMK_GIB)
#define PG    4096ull

static struct mmk_frames *fa;
static struct mmk_aspace as;
static struct as_snap s0, s1;

static const char *const argv_[] = {"/bin/prog", "-x", "hello world"};
static const char *const envp_[] = {"HOME=/", "PATH=/bin:/usr/bin"};
static const uint8_t rnd[16] = {0xa0, 1, 2,  3,	 4,  5,	 6,  7,
				8,    9, 10, 11, 12, 13, 14, 0xaf};

struct arch {
	const char *name;
	enum mmk_pt_format_id fmt;
};

static const struct arch arches[] = {
	{"x86_64", MMK_PT_X86_64_4L},
	{"riscv64", MMK_PT_RISCV_SV39},
	{"aarch64", MMK_PT_AARCH64_48},
	{"loongarch64", MMK_PT_LA64_4K_4L},
};

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_fail_off();
	fa = mmk_hosted_frames_new();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_hosted_fail_off();
	assert_int_equal(mmk_hosted_live_frames(), 0);
	assert_int_equal(mmk_hosted_live_objs(), 0);
	mmk_hosted_frames_destroy(fa);
	return 0;
}

/* The ELF file @kind.@arch built by CMake, or NULL (the test skips). */
static uint8_t *load_elf(const char *kind, const char *arch, size_t *size)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s.%s", LOADER_ELF_DIR, kind, arch);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*size = (size_t)n;
	return buf;
}

static struct mmk_loader_args std_args(void)
{
	struct mmk_loader_args a = {
		.argv = argv_,
		.argc = 3,
		.envp = envp_,
		.envc = 2,
		.random = rnd,
	};
	return a;
}

static const Elf64_Phdr *phdrs(const uint8_t *img)
{
	return (const Elf64_Phdr *)(img + ((const Elf64_Ehdr *)img)->e_phoff);
}

static uint32_t prot_of(uint32_t pf)
{
	return ((pf & PF_R) ? MMK_PT_READ : 0) |
	       ((pf & PF_W) ? MMK_PT_WRITE : 0) |
	       ((pf & PF_X) ? MMK_PT_EXEC : 0) | MMK_PT_USER;
}

/* Every PT_LOAD: bytes (the page before p_vaddr too), bss and the rest of
 * its last page zero, each page's area with the segment's rights. */
static void check_segments(const uint8_t *img, size_t size,
			   const struct mmk_loader_result *r)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Phdr *ph = phdrs(img);
	const uint64_t pg = as.page_size;
	uint64_t hi = 0;
	unsigned nload = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		nload++;
		uint64_t va = ph[i].p_vaddr + r->load_bias;
		uint64_t a0 = MMK_ALIGN_DOWN(va, pg);
		uint64_t a1 = MMK_ALIGN_UP(va + ph[i].p_memsz, pg);
		uint64_t off0 = MMK_ALIGN_DOWN(ph[i].p_offset, pg);
		hi = MMK_MAX(hi, a1);
		uint8_t *got = malloc(a1 - a0);
		assert_non_null(got);
		assert_int_equal(mmk_aspace_read(&as, a0, got, a1 - a0), 0);
		uint64_t nfile = ph[i].p_filesz ? va + ph[i].p_filesz - a0 : 0;
		assert_true(off0 + nfile <= size);
		assert_memory_equal(got, img + off0, nfile);
		for (uint64_t b = nfile; b < a1 - a0; b++)
			if (got[b])
				fail_msg("segment %u: byte %#llx not zero", i,
					 (unsigned long long)(a0 + b));
		free(got);
		for (uint64_t p = a0; p < a1; p += pg) {
			struct mmk_aspace_area ar;
			assert_true(mmk_aspace_find_area(&as, p, &ar));
			assert_int_equal(ar.flags, prot_of(ph[i].p_flags));
		}
	}
	assert_int_equal(r->nsegments, nload);
	assert_int_equal(r->brk, hi);
	assert_int_equal(r->image_hi, hi);
	struct mmk_aspace_area ar;
	assert_false(mmk_aspace_find_area(&as, r->brk, &ar));
	assert_int_equal(r->entry, eh->e_entry + r->load_bias);
}

static uint64_t rd64(mmk_vaddr_t va)
{
	uint64_t v;
	assert_int_equal(mmk_aspace_read(&as, va, &v, 8), 0);
	return v;
}

static void check_string(mmk_vaddr_t va, const char *want)
{
	char buf[256];
	size_t len;
	assert_int_equal(
		mmk_aspace_read_string(&as, va, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, want);
}

/* The initial stack word by word, as Linux lays it out. */
static void check_stack(const uint8_t *img, const struct mmk_loader_result *r,
			const struct mmk_loader_args *a)
{
	const uint64_t page = as.page_size;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	mmk_vaddr_t p = r->sp;
	assert_int_equal(r->sp % 16, 0);
	assert_true(r->sp >= r->stack_lo && r->sp < r->stack_hi);
	assert_int_equal(rd64(p), a->argc);
	p += 8;
	assert_int_equal(r->argv, p);
	for (size_t i = 0; i < a->argc; i++, p += 8)
		check_string(rd64(p), a->argv[i]);
	assert_int_equal(rd64(p), 0);
	p += 8;
	assert_int_equal(r->envp, p);
	for (size_t i = 0; i < a->envc; i++, p += 8)
		check_string(rd64(p), a->envp[i]);
	assert_int_equal(rd64(p), 0);
	p += 8;
	assert_int_equal(r->auxv, p);
	const uint64_t want[][2] = {
		{AT_PHDR, r->at_phdr},
		{AT_PHENT, 56},
		{AT_PHNUM, eh->e_phnum},
		{AT_PAGESZ, page},
		{AT_BASE, 0},
		{AT_ENTRY, eh->e_entry + r->load_bias},
		{AT_RANDOM, r->at_random},
		{AT_NULL, 0},
	};
	for (size_t i = 0; i < MMK_ARRAY_SIZE(want); i++, p += 16) {
		assert_int_equal(rd64(p), want[i][0]);
		assert_int_equal(rd64(p + 8), want[i][1]);
	}
	/* the random bytes above the vectors, the strings above them */
	uint8_t got[16];
	assert_true(r->at_random >= p && r->at_random % 16 == 0);
	assert_int_equal(mmk_aspace_read(&as, r->at_random, got, 16), 0);
	assert_memory_equal(got, a->random, 16);
	assert_true(rd64(r->argv) >= r->at_random + 16);
	assert_int_equal(rd64(r->stack_hi - 8), 0);
	/* the program headers where AT_PHDR says */
	uint8_t *tab = malloc(56u * eh->e_phnum);
	assert_non_null(tab);
	assert_int_equal(
		mmk_aspace_read(&as, r->at_phdr, tab, 56u * eh->e_phnum), 0);
	assert_memory_equal(tab, img + eh->e_phoff, 56u * eh->e_phnum);
	free(tab);
	/* the guard gap below the stack: an area nobody may touch */
	struct mmk_aspace_area ar;
	assert_true(mmk_aspace_find_area(&as, r->stack_lo - PG, &ar));
	assert_int_equal(ar.flags & MMK_PT_RWX, 0);
	assert_int_equal(ar.end, r->stack_lo);
	assert_int_equal(ar.start, r->stack_lo - MMK_LOADER_GUARD_SIZE);
	assert_int_equal(mmk_aspace_read(&as, r->stack_lo - 8, got, 8),
			 MMK_EFAULT);
	assert_true(mmk_aspace_find_area(&as, r->stack_lo, &ar));
	assert_int_equal(ar.flags, MMK_PT_READ | MMK_PT_WRITE | MMK_PT_USER);
}

static void load_and_check(const struct arch *ar, const char *kind,
			   uint64_t bias, unsigned flags)
{
	size_t size;
	uint8_t *img = load_elf(kind, ar->name, &size);
	if (!img) {
		print_message("no %s.%s built: skipped\n", kind, ar->name);
		return;
	}
	assert_int_equal(mmk_aspace_create(&as, BASE, SPACE, ar->fmt, 0, fa),
			 0);
	struct mmk_loader_source src = {.data = img, .size = size};
	struct mmk_loader_args a = std_args();
	struct mmk_loader_result r;
	a.load_bias = bias;
	a.flags = flags;
	assert_int_equal(mmk_loader_load(&as, &src, &a, &r), 0);
	if (((const Elf64_Ehdr *)img)->e_type == ET_DYN && (bias || flags))
		assert_int_equal(r.load_bias, bias);
	if (((const Elf64_Ehdr *)img)->e_type == ET_DYN && !bias && !flags)
		assert_true(r.load_bias >= BASE + (SPACE / 4));
	check_segments(img, size, &r);
	check_stack(img, &r, &a);
	mmk_aspace_destroy(&as);
	free(img);
}

static void loader_static_each_arch(void **state)
{
	(void)state;
	for (size_t i = 0; i < MMK_ARRAY_SIZE(arches); i++)
		load_and_check(&arches[i], "static", 0, 0);
}

/* GNU ld aligns LoongArch segments to 16 KiB: the same image loads into
 * the 16 KiB-page format (AT_PAGESZ 16384, areas of 16 KiB pages). */
static void loader_loongarch_16k(void **state)
{
	(void)state;
	const struct arch la16 = {"loongarch64", MMK_PT_LA64_16K_3L};
	load_and_check(&la16, "static", 0, 0);
	load_and_check(&la16, "pie", 0x40000000, 0);
}

static void loader_pie_bias(void **state)
{
	(void)state;
	for (size_t i = 0; i < MMK_ARRAY_SIZE(arches); i++) {
		load_and_check(&arches[i], "pie", 0x40000000, 0); /* given */
		load_and_check(&arches[i], "pie", 0, 0);	  /* default */
		/* an explicit 0 for an image linked at 0: below the space */
		size_t size;
		uint8_t *img = load_elf("pie", arches[i].name, &size);
		if (!img)
			continue;
		assert_int_equal(mmk_aspace_create(&as, BASE, SPACE,
						   arches[i].fmt, 0, fa),
				 0);
		struct mmk_loader_source src = {.data = img, .size = size};
		struct mmk_loader_args a = std_args();
		struct mmk_loader_result r;
		a.flags = MMK_LOADER_BIAS;
		assert_int_equal(mmk_loader_load(&as, &src, &a, &r),
				 MMK_ERANGE);
		a.load_bias = 0x40000000 + 0x123;
		assert_int_equal(mmk_loader_load(&as, &src, &a, &r),
				 MMK_EALIGN);
		assert_int_equal(mmk_aspace_area_count(&as), 0);
		mmk_aspace_destroy(&as);
		free(img);
	}
}

/* ------------------------------------------------ malformed images */
enum mut {
	M_SHORT_EHDR,
	M_SHORT_PHDRS,
	M_SHORT_SEGMENT,
	M_MAGIC,
	M_CLASS,
	M_ENDIAN,
	M_VERSION,
	M_TYPE,
	M_MACHINE,
	M_PHENTSIZE,
	M_PHNUM0,
	M_PHNUM_HUGE,
	M_PHOFF_WRAP,
	M_OVERLAP,
	M_MEMSZ_WRAP,
	M_OFFSET_WRAP,
	M_FILESZ_GT_MEMSZ,
	M_MISALIGNED,
	M_OUTSIDE,
	M_NO_LOAD,
	M_WX,
	M_OFFSET_PAST_END,
	M_COUNT
};

static const struct {
	const char *name;
	int err;
} muts[M_COUNT] = {
	[M_SHORT_EHDR] = {"truncated ELF header", MMK_ERANGE},
	[M_SHORT_PHDRS] = {"truncated program headers", MMK_ERANGE},
	[M_SHORT_SEGMENT] = {"truncated segment", MMK_ERANGE},
	[M_MAGIC] = {"bad magic", MMK_EINVAL},
	[M_CLASS] = {"ELFCLASS32", MMK_EINVAL},
	[M_ENDIAN] = {"big-endian", MMK_EINVAL},
	[M_VERSION] = {"EI_VERSION 0", MMK_EINVAL},
	[M_TYPE] = {"ET_REL", MMK_EINVAL},
	[M_MACHINE] = {"image of another architecture", MMK_ENOTSUP},
	[M_PHENTSIZE] = {"e_phentsize 32", MMK_EINVAL},
	[M_PHNUM0] = {"e_phnum 0", MMK_EINVAL},
	[M_PHNUM_HUGE] = {"e_phnum 0xffff", MMK_EINVAL},
	[M_PHOFF_WRAP] = {"e_phoff wraps", MMK_EWRAP},
	[M_OVERLAP] = {"overlapping segments", MMK_EEXIST},
	[M_MEMSZ_WRAP] = {"p_vaddr + p_memsz wraps", MMK_EWRAP},
	[M_OFFSET_WRAP] = {"p_offset + p_filesz wraps", MMK_EWRAP},
	[M_FILESZ_GT_MEMSZ] = {"p_filesz > p_memsz", MMK_EINVAL},
	[M_MISALIGNED] = {"p_offset vs p_vaddr", MMK_EINVAL},
	[M_OUTSIDE] = {"segment outside the space", MMK_ERANGE},
	[M_NO_LOAD] = {"no PT_LOAD", MMK_EINVAL},
	[M_WX] = {"writable and executable", MMK_EACCES},
	[M_OFFSET_PAST_END] = {"p_offset past the end", MMK_ERANGE},
};

/* The index of the @n-th PT_LOAD with file bytes. */
static Elf64_Phdr *nth_load(uint8_t *img, unsigned n)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + eh->e_phoff);
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_filesz && n-- == 0)
			return &ph[i];
	fail_msg("no PT_LOAD %u", n);
	return NULL;
}

static size_t mutate(uint8_t *img, size_t size, enum mut m)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + eh->e_phoff);
	Elf64_Phdr *l0 = nth_load(img, 0), *l1 = nth_load(img, 1);
	switch (m) {
	case M_SHORT_EHDR:
		return 63;
	case M_SHORT_PHDRS:
		return eh->e_phoff + 56 * eh->e_phnum - 1;
	case M_SHORT_SEGMENT:
		return l1->p_offset + l1->p_filesz - 1;
	case M_MAGIC:
		img[1] = 'e';
		break;
	case M_CLASS:
		img[EI_CLASS] = ELFCLASS32;
		break;
	case M_ENDIAN:
		img[EI_DATA] = ELFDATA2MSB;
		break;
	case M_VERSION:
		img[EI_VERSION] = 0;
		break;
	case M_TYPE:
		eh->e_type = ET_REL;
		break;
	case M_MACHINE:
		eh->e_machine =
			eh->e_machine == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
		break;
	case M_PHENTSIZE:
		eh->e_phentsize = 32;
		break;
	case M_PHNUM0:
		eh->e_phnum = 0;
		break;
	case M_PHNUM_HUGE:
		eh->e_phnum = 0xffff;
		break;
	case M_PHOFF_WRAP:
		eh->e_phoff = UINT64_MAX - 16;
		break;
	case M_OVERLAP:
		l1->p_vaddr =
			l0->p_vaddr + (l1->p_offset % PG) - (l0->p_vaddr % PG);
		break;
	case M_MEMSZ_WRAP:
		l1->p_memsz = UINT64_MAX - l1->p_vaddr + 2;
		break;
	case M_OFFSET_WRAP:
		l1->p_offset = UINT64_MAX - 2;
		break;
	case M_FILESZ_GT_MEMSZ:
		l1->p_filesz = l1->p_memsz + 1;
		break;
	case M_MISALIGNED:
		l1->p_vaddr += 8;
		break;
	case M_OUTSIDE:
		l1->p_vaddr += 0x700000000000ull;
		break;
	case M_NO_LOAD:
		for (unsigned i = 0; i < eh->e_phnum; i++)
			if (ph[i].p_type == PT_LOAD)
				ph[i].p_type = PT_NOTE;
		break;
	case M_WX:
		l0->p_flags = PF_R | PF_W | PF_X;
		break;
	case M_OFFSET_PAST_END:
		l1->p_offset += MMK_ALIGN_UP(size, PG);
		l1->p_vaddr += MMK_ALIGN_UP(size, PG);
		break;
	default:
		break;
	}
	return size;
}

/* The table on the static image of @ar, in a space of its format. */
static void malformed_on(const struct arch *ar)
{
	size_t size;
	uint8_t *good = load_elf("static", ar->name, &size);
	if (!good) {
		print_message("no static.%s built: skipped\n", ar->name);
		return;
	}
	uint8_t *img = malloc(size);
	assert_non_null(img);
	assert_int_equal(mmk_aspace_create(&as, BASE, SPACE, ar->fmt, 0, fa),
			 0);
	/* something already there, which must stay as it is */
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE + 12 * MMK_GIB, 4 * PG,
				     MMK_PT_READ | MMK_PT_WRITE | MMK_PT_USER,
				     true),
		0);
	as_snapshot(&as, fa, &s0);
	for (int m = 0; m < M_COUNT; m++) {
		memcpy(img, good, size);
		size_t n = mutate(img, size, (enum mut)m);
		struct mmk_loader_source src = {.data = img, .size = n};
		struct mmk_loader_args a = std_args();
		struct mmk_loader_result r;
		int err = mmk_loader_load(&as, &src, &a, &r);
		if (err != muts[m].err)
			fail_msg("%s %s: %s, want %s", ar->name, muts[m].name,
				 mmk_strerror_name(err),
				 mmk_strerror_name(muts[m].err));
		as_snapshot(&as, fa, &s1);
		as_snap_equal(&s0, &s1, muts[m].name);
	}
	/* W^X allowed when asked */
	memcpy(img, good, size);
	mutate(img, size, M_WX);
	struct mmk_loader_source src = {.data = img, .size = size};
	struct mmk_loader_args a = std_args();
	struct mmk_loader_result r;
	a.flags = MMK_LOADER_ALLOW_WX;
	assert_int_equal(mmk_loader_load(&as, &src, &a, &r), 0);
	struct mmk_aspace_area area;
	assert_true(mmk_aspace_find_area(&as, r.image_lo, &area));
	assert_int_equal(area.flags, MMK_PT_RWX | MMK_PT_USER);
	mmk_aspace_destroy(&as);
	free(img);
	free(good);
}

static void loader_malformed_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < MMK_ARRAY_SIZE(arches); i++)
		malformed_on(&arches[i]);
}

/* Bad arguments: an error each, nothing changed. */
static void loader_bad_args(void **state)
{
	(void)state;
	size_t size;
	uint8_t *img = load_elf("static", "x86_64", &size);
	if (!img)
		skip();
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	struct mmk_loader_source src = {.data = img, .size = size};
	struct mmk_loader_source none = {.size = size};
	struct mmk_loader_args a = std_args();
	struct mmk_loader_result r;
	assert_int_equal(mmk_loader_load(NULL, &src, &a, &r), MMK_EINVAL);
	assert_int_equal(mmk_loader_load(&as, &none, &a, &r), MMK_EINVAL);
	assert_int_equal(mmk_loader_load(&as, &src, NULL, &r), MMK_EINVAL);
	assert_int_equal(mmk_loader_load(&as, &src, &a, NULL), MMK_EINVAL);
	const char *const bad[] = {"a", NULL};
	a.argv = bad;
	a.argc = 2;
	assert_int_equal(mmk_loader_load(&as, &src, &a, &r), MMK_EFAULT);
	a = std_args();
	a.stack_top = BASE + SPACE - 8;
	assert_int_equal(mmk_loader_load(&as, &src, &a, &r), MMK_EALIGN);
	a.stack_top = BASE + SPACE + PG;
	assert_int_equal(mmk_loader_load(&as, &src, &a, &r), MMK_ERANGE);
	a = std_args();
	a.stack_size = PG; /* too small for a huge argv */
	const char *many[600];
	for (int i = 0; i < 600; i++)
		many[i] = "xxxxxxxx";
	a.argv = many;
	a.argc = 600;
	assert_int_equal(mmk_loader_load(&as, &src, &a, &r), MMK_ERANGE);
	/* an area where the stack goes, then where the image goes */
	a = std_args();
	assert_int_equal(mmk_aspace_map_guard(&as, BASE + SPACE - PG, PG), 0);
	as_snapshot(&as, fa, &s0);
	assert_int_equal(mmk_loader_load(&as, &src, &a, &r), MMK_EEXIST);
	as_snapshot(&as, fa, &s1);
	as_snap_equal(&s0, &s1, "stack range taken");
	assert_int_equal(mmk_aspace_unmap(&as, BASE + SPACE - PG, PG), 0);
	assert_int_equal(mmk_aspace_map_guard(&as, 0x202000, PG), 0);
	assert_int_equal(mmk_loader_load(&as, &src, &a, &r), MMK_EEXIST);
	assert_int_equal(mmk_aspace_area_count(&as), 1);
	mmk_aspace_destroy(&as);
	/* a space of another architecture's format than the image */
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_RISCV_SV39, 0, fa),
		0);
	assert_int_equal(mmk_loader_load(&as, &src, &a, &r), MMK_ENOTSUP);
	mmk_aspace_destroy(&as);
	free(img);
}

/* ------------------------------------------------------------ OOM */
/* Every allocation fails once in turn: an error and the space as it was
 * (or success once past the last). */
static void oom_loop(struct mmk_loader_source *src, enum mmk_failsite site,
		     const char *what)
{
	struct mmk_loader_args a = std_args();
	struct mmk_loader_result r;
	as_snapshot(&as, fa, &s0);
	for (long n = 1;; n++) {
		mmk_hosted_fail_nth(site, n);
		int err = mmk_loader_load(&as, src, &a, &r);
		bool hit = mmk_hosted_injected(site) > 0;
		mmk_hosted_fail_off();
		if (err == 0) {
			assert_false(hit);
			/* the image's frames, tables, areas: many failed */
			assert_true(n > 4);
			break;
		}
		assert_int_equal(err, MMK_ENOMEM);
		as_snapshot(&as, fa, &s1);
		as_snap_equal(&s0, &s1, what);
		assert_true(n < 10000);
	}
	mmk_aspace_clear(&as);
}

static void loader_oom_every_allocation(void **state)
{
	(void)state;
	size_t size;
	uint8_t *img = load_elf("static", "x86_64", &size);
	if (!img)
		skip();
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	struct mmk_loader_source src = {.data = img, .size = size};
	oom_loop(&src, MMK_FAIL_FRAME, "frame");
	oom_loop(&src, MMK_FAIL_OBJ, "object");
	mmk_aspace_destroy(&as);
	free(img);
}

/* ------------------------------------------------------------ pager */
static struct mmk_hosted_file *file_of(const uint8_t *img, size_t size)
{
	uint64_t np = MMK_ALIGN_UP(size, PG) / PG;
	struct mmk_hosted_file *hf = mmk_hosted_file_new(fa, np);
	assert_non_null(hf);
	memcpy(mmk_hosted_file_data(hf), img, size);
	return hf;
}

static void loader_through_pager(void **state)
{
	(void)state;
	for (size_t i = 0; i < MMK_ARRAY_SIZE(arches); i++) {
		size_t size;
		uint8_t *img = load_elf("static", arches[i].name, &size);
		if (!img)
			continue;
		struct mmk_hosted_file *hf = file_of(img, size);
		assert_int_equal(mmk_aspace_create(&as, BASE, SPACE,
						   arches[i].fmt, 0, fa),
				 0);
		struct mmk_loader_source src = {
			.size = size, .file = mmk_hosted_file_file(hf)};
		struct mmk_loader_args a = std_args();
		struct mmk_loader_result r;
		assert_int_equal(mmk_loader_load(&as, &src, &a, &r), 0);
		check_segments(img, size, &r);
		check_stack(img, &r, &a);
		/* a segment's whole file pages are the file's own pages, the
		 * page its file bytes end in a copy */
		const Elf64_Phdr *ph = phdrs(img);
		unsigned nfile = 0;
		for (unsigned k = 0; k < ((Elf64_Ehdr *)img)->e_phnum; k++) {
			if (ph[k].p_type != PT_LOAD || !ph[k].p_filesz)
				continue;
			uint64_t a0 = MMK_ALIGN_DOWN(ph[k].p_vaddr, PG);
			uint64_t fe = ph[k].p_vaddr + ph[k].p_filesz;
			struct mmk_aspace_area ar;
			assert_true(mmk_aspace_find_area(&as, a0, &ar));
			if (MMK_ALIGN_DOWN(fe, PG) > a0) {
				assert_ptr_equal(ar.backend,
						 &mmk_backend_file_private);
				nfile++;
			}
			if (fe % PG) {
				assert_true(mmk_aspace_find_area(&as, fe, &ar));
				assert_ptr_not_equal(ar.backend,
						     &mmk_backend_file_private);
			}
		}
		assert_true(nfile >= 2);
		/* writing the data segment leaves the file alone */
		const Elf64_Phdr *w = NULL;
		for (unsigned k = 0; k < ((Elf64_Ehdr *)img)->e_phnum; k++)
			if (ph[k].p_type == PT_LOAD && (ph[k].p_flags & PF_W) &&
			    ph[k].p_filesz)
				w = &ph[k];
		assert_non_null(w);
		uint8_t x = 0x5a;
		assert_int_equal(mmk_aspace_write(&as, w->p_vaddr, &x, 1), 0);
		assert_memory_equal(mmk_hosted_file_data(hf), img, size);
		mmk_aspace_destroy(&as);
		mmk_hosted_file_destroy(hf);
		free(img);
	}
}

/* The pager failing, and memory running out, while loading from a file. */
static void loader_pager_failures(void **state)
{
	(void)state;
	size_t size;
	uint8_t *img = load_elf("static", "x86_64", &size);
	if (!img)
		skip();
	struct mmk_hosted_file *hf = file_of(img, size);
	for (uint64_t p = 0; p < MMK_ALIGN_UP(size, PG) / PG; p++)
		assert_int_equal(mmk_hosted_file_cache(hf, p), 0);
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	struct mmk_loader_source src = {.size = size,
					.file = mmk_hosted_file_file(hf)};
	struct mmk_loader_args a = std_args();
	struct mmk_loader_result r;
	as_snapshot(&as, fa, &s0);
	for (long n = 1;; n++) {
		mmk_hosted_file_fail_nth(hf, MMK_HOSTED_PAGER_GET, n,
					 MMK_EFAULT);
		long before = mmk_hosted_file_calls(hf, MMK_HOSTED_PAGER_GET);
		int err = mmk_loader_load(&as, &src, &a, &r);
		long calls = mmk_hosted_file_calls(hf, MMK_HOSTED_PAGER_GET) -
			     before;
		mmk_hosted_file_fail_off(hf);
		if (err == 0) {
			assert_true(calls < n);
			break;
		}
		assert_int_equal(err, MMK_EFAULT);
		as_snapshot(&as, fa, &s1);
		as_snap_equal(&s0, &s1, "pager get_page");
		assert_true(n < 1000);
	}
	mmk_aspace_clear(&as);
	oom_loop(&src, MMK_FAIL_FRAME, "pager frame");
	oom_loop(&src, MMK_FAIL_OBJ, "pager object");
	mmk_aspace_destroy(&as);
	mmk_hosted_file_destroy(hf);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(loader_static_each_arch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(loader_pie_bias, setup,
						teardown),
		cmocka_unit_test_setup_teardown(loader_loongarch_16k, setup,
						teardown),
		cmocka_unit_test_setup_teardown(loader_malformed_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(loader_bad_args, setup,
						teardown),
		cmocka_unit_test_setup_teardown(loader_oom_every_allocation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(loader_through_pager, setup,
						teardown),
		cmocka_unit_test_setup_teardown(loader_pager_failures, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
