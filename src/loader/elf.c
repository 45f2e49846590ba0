/* SPDX-License-Identifier: MIT */
/*
 * ELF64 headers: read them from a buffer or through the pager and check
 * everything the loader relies on before anything is mapped (the checks
 * of mmk_loader_load about the image; decode first, perform after).
 */
#include "loader/loader_internal.h"

#include <mmkit/frame.h>
#include <mmkit/hal.h>
#include <mmkit/pager.h>

/* ------------------------------------------------------------ reading */
/* Little-endian fields, whatever the host's byte order. */
static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	while (n--)
		v = (v << 8) | p[n];
	return v;
}

/* Pages of the file through its pager (get_page, copy, put). */
static int read_file(struct mmk_file *f, uint64_t off, uint8_t *dst,
		     uint64_t len)
{
	uint64_t psize = (uint64_t)1 << f->page_shift;
	while (len) {
		uint64_t in = off & (psize - 1);
		uint64_t n = MMK_MIN(len, psize - in);
		mmk_paddr_t pa;
		int err = f->ops->get_page(f, off >> f->page_shift, 0, &pa);
		if (err)
			return err;
		__builtin_memcpy(dst,
				 (const uint8_t *)mmk_phys_to_virt(pa) + in, n);
		(void)mmk_frame_put(f->frames, pa);
		dst += n;
		off += n;
		len -= n;
	}
	return 0;
}

int mmk__ld_read(const struct mmk_loader_source *src, uint64_t off, void *dst,
		 uint64_t len)
{
	if (src->data) {
		__builtin_memcpy(dst, (const uint8_t *)src->data + off, len);
		return 0;
	}
	return read_file(src->file, off, (uint8_t *)dst, len);
}

/* ------------------------------------------------------------ checks */
/* The ELF header: identity, type, machine, program header table. */
static int parse_ehdr(const struct mmk_loader_source *src, unsigned machine,
		      struct mmk__ld_image *img)
{
	uint8_t h[MMK__ELF_EHDR_SIZE];
	if (src->size < MMK__ELF_EHDR_SIZE)
		return MMK_ERANGE;
	int err = mmk__ld_read(src, 0, h, sizeof(h));
	if (err)
		return err;
	if (h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F' ||
	    h[4] != MMK__ELF_CLASS64 || h[5] != MMK__ELF_DATA_LE ||
	    h[6] != MMK__ELF_VERSION || le(h + 20, 4) != MMK__ELF_VERSION)
		return MMK_EINVAL;
	img->type = (unsigned)le(h + 16, 2);
	if (img->type != MMK__ET_EXEC && img->type != MMK__ET_DYN)
		return MMK_EINVAL;
	if (le(h + 18, 2) != machine)
		return MMK_ENOTSUP;
	img->entry = le(h + 24, 8);
	img->phoff = le(h + 32, 8);
	img->phnum = (unsigned)le(h + 56, 2);
	if (le(h + 54, 2) != MMK__ELF_PHDR_SIZE || img->phnum == 0 ||
	    img->phnum > MMK_LOADER_MAX_PHNUM)
		return MMK_EINVAL;
	uint64_t tab = (uint64_t)img->phnum * MMK__ELF_PHDR_SIZE;
	if (img->phoff + tab < img->phoff)
		return MMK_EWRAP;
	if (img->phoff + tab > src->size)
		return MMK_ERANGE;
	return 0;
}

static uint32_t seg_prot(uint64_t pf)
{
	return ((pf & MMK__PF_R) ? MMK_PT_READ : 0) |
	       ((pf & MMK__PF_W) ? MMK_PT_WRITE : 0) |
	       ((pf & MMK__PF_X) ? MMK_PT_EXEC : 0);
}

/* One PT_LOAD: sizes, wrap, file bounds, congruence, W^X. */
static int check_load(const struct mmk_loader_source *src, uint64_t page,
		      unsigned flags, const struct mmk__ld_seg *s)
{
	if (s->filesz > s->memsz)
		return MMK_EINVAL;
	if (s->offset + s->filesz < s->offset ||
	    s->vaddr + s->memsz < s->vaddr ||
	    s->vaddr + s->memsz > UINT64_MAX - page)
		return MMK_EWRAP;
	if (s->offset + s->filesz > src->size)
		return MMK_ERANGE;
	if (((s->vaddr - s->offset) & (page - 1)) != 0)
		return MMK_EINVAL;
	if ((s->prot & MMK_PT_WRITE) && (s->prot & MMK_PT_EXEC) &&
	    !(flags & MMK_LOADER_ALLOW_WX))
		return MMK_EACCES;
	return 0;
}

/* Record a PT_LOAD (empty ones are skipped, as Linux does). */
static int add_load(const struct mmk_loader_source *src, uint64_t page,
		    unsigned flags, const uint8_t *ph,
		    struct mmk__ld_image *img)
{
	struct mmk__ld_seg s = {
		.vaddr = le(ph + 16, 8),
		.memsz = le(ph + 40, 8),
		.offset = le(ph + 8, 8),
		.filesz = le(ph + 32, 8),
		.prot = seg_prot(le(ph + 4, 4)),
	};
	uint64_t align = le(ph + 48, 8);
	int err = check_load(src, page, flags, &s);
	if (err)
		return err;
	if (s.memsz == 0)
		return 0;
	if (img->nseg == MMK_LOADER_MAX_LOADS)
		return MMK_EINVAL;
	if (MMK_IS_POW2(align) && align > img->max_align)
		img->max_align = align;
	img->seg[img->nseg++] = s;
	return 0;
}

/* Two segments may not share a page: each page is one area's. */
static int check_overlap(uint64_t page, struct mmk__ld_image *img)
{
	img->lo = UINT64_MAX;
	img->hi = 0;
	for (unsigned i = 0; i < img->nseg; i++) {
		const struct mmk__ld_seg *a = &img->seg[i];
		uint64_t alo = MMK_ALIGN_DOWN(a->vaddr, page);
		uint64_t ahi = MMK_ALIGN_UP(a->vaddr + a->memsz, page);
		for (unsigned j = 0; j < i; j++) {
			const struct mmk__ld_seg *b = &img->seg[j];
			uint64_t blo = MMK_ALIGN_DOWN(b->vaddr, page);
			uint64_t bhi = MMK_ALIGN_UP(b->vaddr + b->memsz, page);
			if (alo < bhi && blo < ahi)
				return MMK_EEXIST;
		}
		img->lo = MMK_MIN(img->lo, alo);
		img->hi = MMK_MAX(img->hi, ahi);
	}
	return 0;
}

int mmk__ld_parse(const struct mmk_loader_source *src, uint64_t page,
		  unsigned machine, unsigned flags, struct mmk__ld_image *img)
{
	__builtin_memset(img, 0, sizeof(*img));
	img->max_align = page;
	int err = parse_ehdr(src, machine, img);
	for (unsigned i = 0; !err && i < img->phnum; i++) {
		uint8_t ph[MMK__ELF_PHDR_SIZE];
		err = mmk__ld_read(src, img->phoff + i * MMK__ELF_PHDR_SIZE, ph,
				   sizeof(ph));
		if (err)
			break;
		uint64_t type = le(ph, 4);
		if (type == MMK__PT_LOAD) {
			err = add_load(src, page, flags, ph, img);
		} else if (type == MMK__PT_PHDR) {
			img->has_phdr = true;
			img->phdr_vaddr = le(ph + 16, 8);
		}
	}
	if (err)
		return err;
	if (img->nseg == 0)
		return MMK_EINVAL;
	return check_overlap(page, img);
}
