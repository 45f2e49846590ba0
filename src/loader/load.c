/* SPDX-License-Identifier: MIT */
/*
 * mmk_loader_load: map a checked image's segments, then its stack and the
 * initial stack's contents.  Every check runs before the first mapping
 * (elf.c for the image, stack_plan for the stack); what can still fail
 * after that is memory (or the pager), and then the ranges this call
 * mapped -- checked empty beforehand -- are unmapped whole.
 */
#include "loader/loader_internal.h"

#include <mmkit/hal.h>
#include <mmkit/pager.h>

/* The initial stack, planned before anything is mapped. */
struct stack_plan {
	mmk_vaddr_t top, lo, guard_lo; /* [guard_lo, lo) guard, [lo, top) */
	mmk_vaddr_t strings;	       /* the argv then envp strings */
	mmk_vaddr_t random;	       /* 16 bytes, 16-aligned */
	mmk_vaddr_t sp;		       /* argc, 16-aligned */
};

struct ld_ctx {
	struct mmk_aspace *as;
	const struct mmk_loader_source *src;
	const struct mmk_loader_args *args;
	uint64_t page, bias;
	struct stack_plan st;
	struct mmk__ld_image img;
};

/* auxv pairs written, AT_NULL included. */
#define NAUXV 8u

static bool streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

static uint64_t slen(const char *s)
{
	uint64_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* The ELF machine of the space's page-table format, 0 if none. */
static unsigned space_machine(struct mmk_aspace *as)
{
	struct mmk_pt_info info;
	mmk_pt_info(mmk_aspace_pt(as), &info);
	if (streq(info.arch, "x86_64"))
		return MMK__EM_X86_64;
	if (streq(info.arch, "riscv64"))
		return MMK__EM_RISCV;
	if (streq(info.arch, "aarch64"))
		return MMK__EM_AARCH64;
	if (streq(info.arch, "loongarch64"))
		return MMK__EM_LOONGARCH;
	return 0;
}

/* ------------------------------------------------------------ checks */
struct probe {
	mmk_vaddr_t end;
	bool busy;
};

static int probe_area(const struct mmk_aspace_area *a, void *arg)
{
	struct probe *p = (struct probe *)arg;
	p->busy = a->start < p->end;
	return 1;
}

/* No area in [lo, hi): else MMK_EEXIST. */
static int range_free(struct mmk_aspace *as, mmk_vaddr_t lo, mmk_vaddr_t hi)
{
	struct probe p = {hi, false};
	(void)mmk_aspace_foreach_area(as, lo, probe_area, &p);
	return p.busy ? MMK_EEXIST : 0;
}

/* Bytes of the strings, or MMK_EFAULT for a NULL pointer. */
static int strings_size(const char *const *v, size_t n, uint64_t *size)
{
	for (size_t i = 0; i < n; i++) {
		if (!v || !v[i])
			return MMK_EFAULT;
		*size += slen(v[i]) + 1;
	}
	return 0;
}

/* Where the stack goes and what is on it; checks it fits the space. */
static int stack_plan(struct ld_ctx *c)
{
	const struct mmk_loader_args *a = c->args;
	struct stack_plan *p = &c->st;
	uint64_t size = a->stack_size ? a->stack_size : MMK_LOADER_STACK_SIZE;
	uint64_t guard = a->guard_size ? a->guard_size : MMK_LOADER_GUARD_SIZE;
	p->top = a->stack_top ? a->stack_top : c->as->end;
	if (!MMK_IS_ALIGNED(p->top | size | guard, c->page))
		return MMK_EALIGN;
	if (p->top > c->as->end || p->top < c->as->base ||
	    size > p->top - c->as->base || guard > p->top - c->as->base - size)
		return MMK_ERANGE;
	p->lo = p->top - size;
	p->guard_lo = p->lo - guard;
	if (a->argc > size / 8 || a->envc > size / 8)
		return MMK_ERANGE;
	uint64_t str = 0;
	int err = strings_size(a->argv, a->argc, &str);
	if (!err)
		err = strings_size(a->envp, a->envc, &str);
	if (err)
		return err;
	uint64_t words = 1 + a->argc + 1 + a->envc + 1 + 2 * NAUXV;
	/* 8 zero bytes at the top, strings, 16 random bytes, the vectors,
	 * and at most 15 bytes of padding twice */
	if (8 + str + 16 + 15 + words * 8 + 15 > size)
		return MMK_ERANGE;
	p->strings = p->top - 8 - str;
	p->random = MMK_ALIGN_DOWN(p->strings - 16, 16);
	p->sp = MMK_ALIGN_DOWN(p->random - words * 8, 16);
	return range_free(c->as, p->guard_lo, p->top);
}

/* ET_DYN without a bias: the lowest free range from a third of the space
 * up, below the stack's guard, aligned as the segments ask (2 MiB at
 * most). */
static int default_bias(struct ld_ctx *c)
{
	struct mmk_aspace *as = c->as;
	uint64_t align = MMK_MIN(c->img.max_align, 2 * MMK_MIB);
	uint64_t hint = as->base + (c->st.guard_lo - as->base) / 3;
	mmk_vaddr_t at;
	align = MMK_MAX(align, c->page);
	int err = mmk_aspace_find_free_area(as, MMK_ALIGN_DOWN(hint, align),
					    c->img.hi - c->img.lo, as->base,
					    c->st.guard_lo, align, &at);
	if (err)
		return err;
	c->bias = at - c->img.lo;
	return 0;
}

/* The bias, and the biased image inside the space, clear of the stack. */
static int place_image(struct ld_ctx *c)
{
	const struct mmk_loader_args *a = c->args;
	c->bias = 0;
	if (c->img.type == MMK__ET_DYN) {
		if (a->load_bias || (a->flags & MMK_LOADER_BIAS))
			c->bias = a->load_bias;
		else {
			int err = default_bias(c);
			if (err)
				return err;
		}
	}
	if (!MMK_IS_ALIGNED(c->bias, c->page))
		return MMK_EALIGN;
	mmk_vaddr_t lo = c->img.lo + c->bias, hi = c->img.hi + c->bias;
	if (hi < c->img.hi || lo > hi)
		return MMK_EWRAP;
	if (lo < c->as->base || hi > c->as->end)
		return MMK_ERANGE;
	if (lo < c->st.top && c->st.guard_lo < hi)
		return MMK_EEXIST;
	return range_free(c->as, lo, hi);
}

/* ----------------------------------------------------------- segments */
/* Copy @len image bytes at @off to @va of a populated area, page by page
 * through the page table (the area may be read-only). */
static int fill(struct ld_ctx *c, mmk_vaddr_t va, uint64_t off, uint64_t len)
{
	while (len) {
		uint64_t n = MMK_MIN(len, c->page - (va & (c->page - 1)));
		mmk_paddr_t pa;
		int err =
			mmk_pt_query(mmk_aspace_pt(c->as), va, &pa, NULL, NULL);
		if (!err)
			err = mmk__ld_read(c->src, off, mmk_phys_to_virt(pa),
					   n);
		if (err)
			return err;
		va += n;
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * One segment: the file's whole pages as a file-private mapping (pager
 * only), the pages holding the rest of its file bytes copied into a
 * populated alloc area, the bss past them a lazy alloc area (zero).
 */
static int map_segment(struct ld_ctx *c, const struct mmk__ld_seg *s)
{
	uint64_t pg = c->page;
	mmk_vaddr_t a0 = MMK_ALIGN_DOWN(s->vaddr, pg) + c->bias;
	mmk_vaddr_t fend = s->vaddr + s->filesz + c->bias;
	mmk_vaddr_t a1 = MMK_ALIGN_UP(s->vaddr + s->memsz, pg) + c->bias;
	mmk_vaddr_t cut = a0, dend = s->filesz ? MMK_ALIGN_UP(fend, pg) : a0;
	uint64_t foff = MMK_ALIGN_DOWN(s->offset, pg);
	uint32_t prot = s->prot | MMK_PT_USER;
	int err = 0;
	if (c->src->file && s->filesz) {
		cut = MMK_ALIGN_DOWN(fend, pg);
		if (cut > a0)
			err = mmk_aspace_map_file(c->as, a0, cut - a0, prot,
						  c->src->file, foff, 0);
	}
	if (!err && dend > cut) {
		err = mmk_aspace_map_alloc(c->as, cut, dend - cut, prot, true);
		if (!err)
			err = fill(c, cut, foff + (cut - a0), fend - cut);
	}
	if (!err && a1 > dend)
		err = mmk_aspace_map_alloc(c->as, dend, a1 - dend, prot, false);
	return err;
}

/* ------------------------------------------------------------- stack */
/* Words for the stack, written in batches. */
struct words {
	struct mmk_aspace *as;
	mmk_vaddr_t va;
	unsigned n;
	int err;
	uint8_t b[256];
};

static void words_flush(struct words *w)
{
	if (!w->err && w->n)
		w->err = mmk_aspace_write_kernel(w->as, w->va, w->b, w->n);
	w->va += w->n;
	w->n = 0;
}

static void word(struct words *w, uint64_t v)
{
	if (w->n == sizeof(w->b))
		words_flush(w);
	for (unsigned i = 0; i < 8; i++)
		w->b[w->n++] = (uint8_t)(v >> (8 * i));
}

/* The strings of @v from *@va up, their addresses as words. */
static int put_strings(struct ld_ctx *c, const char *const *v, size_t n,
		       mmk_vaddr_t *va)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t len = slen(v[i]) + 1;
		int err = mmk_aspace_write_kernel(c->as, *va, v[i], len);
		if (err)
			return err;
		*va += len;
	}
	return 0;
}

static void put_vector(struct words *w, const char *const *v, size_t n,
		       mmk_vaddr_t *va)
{
	for (size_t i = 0; i < n; i++) {
		word(w, *va);
		*va += slen(v[i]) + 1;
	}
	word(w, 0);
}

/* AT_PHDR: PT_PHDR's address, else where a segment maps e_phoff. */
static mmk_vaddr_t phdr_addr(const struct ld_ctx *c)
{
	const struct mmk__ld_image *img = &c->img;
	uint64_t tab = (uint64_t)img->phnum * MMK__ELF_PHDR_SIZE;
	if (img->has_phdr)
		return img->phdr_vaddr + c->bias;
	for (unsigned i = 0; i < img->nseg; i++) {
		const struct mmk__ld_seg *s = &img->seg[i];
		if (s->offset <= img->phoff &&
		    img->phoff + tab <= s->offset + s->filesz)
			return s->vaddr + (img->phoff - s->offset) + c->bias;
	}
	return 0;
}

static void put_auxv(struct words *w, const struct mmk_loader_result *r,
		     uint64_t base)
{
	const uint64_t aux[2 * NAUXV] = {
		MMK_AT_PHDR,   r->at_phdr,   MMK_AT_PHENT,  r->at_phent,
		MMK_AT_PHNUM,  r->at_phnum,  MMK_AT_PAGESZ, r->at_pagesz,
		MMK_AT_BASE,   base,	     MMK_AT_ENTRY,  r->entry,
		MMK_AT_RANDOM, r->at_random, MMK_AT_NULL,   0,
	};
	for (unsigned i = 0; i < 2 * NAUXV; i++)
		word(w, aux[i]);
}

static int write_stack(struct ld_ctx *c, struct mmk_loader_result *r)
{
	const struct mmk_loader_args *a = c->args;
	static const uint8_t zero[16];
	mmk_vaddr_t va = c->st.strings;
	int err = mmk_aspace_write_kernel(c->as, c->st.random,
					  a->random ? a->random : zero, 16);
	if (!err)
		err = put_strings(c, a->argv, a->argc, &va);
	if (!err)
		err = put_strings(c, a->envp, a->envc, &va);
	if (err)
		return err;
	struct words w = {.as = c->as, .va = c->st.sp};
	va = c->st.strings;
	word(&w, a->argc);
	r->argv = w.va + 8;
	put_vector(&w, a->argv, a->argc, &va);
	r->envp = r->argv + 8 * (a->argc + 1);
	put_vector(&w, a->envp, a->envc, &va);
	r->auxv = r->envp + 8 * (a->envc + 1);
	put_auxv(&w, r, a->interp_base);
	words_flush(&w);
	return w.err;
}

/* ---------------------------------------------------------- the call */
static void fill_result(const struct ld_ctx *c, struct mmk_loader_result *r)
{
	__builtin_memset(r, 0, sizeof(*r));
	r->entry = c->img.entry + c->bias;
	r->sp = c->st.sp;
	r->brk = c->img.hi + c->bias;
	r->load_bias = c->bias;
	r->image_lo = c->img.lo + c->bias;
	r->image_hi = c->img.hi + c->bias;
	r->stack_lo = c->st.lo;
	r->stack_hi = c->st.top;
	r->at_random = c->st.random;
	r->at_phdr = phdr_addr(c);
	r->at_phent = MMK__ELF_PHDR_SIZE;
	r->at_phnum = c->img.phnum;
	r->at_pagesz = c->page;
	r->nsegments = c->img.nseg;
}

static int map_all(struct ld_ctx *c, struct mmk_loader_result *r)
{
	int err = 0;
	for (unsigned i = 0; !err && i < c->img.nseg; i++)
		err = map_segment(c, &c->img.seg[i]);
	if (!err)
		err = mmk_aspace_map_guard(c->as, c->st.guard_lo,
					   c->st.lo - c->st.guard_lo);
	if (!err)
		err = mmk_aspace_map_alloc(
			c->as, c->st.lo, c->st.top - c->st.lo,
			MMK_PT_READ | MMK_PT_WRITE | MMK_PT_USER, false);
	if (!err)
		err = write_stack(c, r);
	return err;
}

int mmk_loader_load(struct mmk_aspace *as, const struct mmk_loader_source *src,
		    const struct mmk_loader_args *args,
		    struct mmk_loader_result *out)
{
	if (!as || !src || !args || !out || (!src->data && !src->file))
		return MMK_EINVAL;
	struct ld_ctx c = {.as = as, .src = src, .args = args};
	c.page = as->page_size;
	unsigned machine = space_machine(as);
	if (!machine)
		return MMK_ENOTSUP;
	int err = mmk__ld_parse(src, c.page, machine, args->flags, &c.img);
	if (!err)
		err = stack_plan(&c);
	if (!err)
		err = place_image(&c);
	if (err)
		return err;
	struct mmk_loader_result r;
	fill_result(&c, &r);
	err = map_all(&c, &r);
	if (err) {
		/* both ranges were free: everything in them is this call's */
		(void)mmk_aspace_unmap(as, r.image_lo, r.image_hi - r.image_lo);
		(void)mmk_aspace_unmap(as, c.st.guard_lo,
				       c.st.top - c.st.guard_lo);
		return err;
	}
	*out = r;
	return 0;
}
