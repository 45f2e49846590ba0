/* SPDX-License-Identifier: MIT */
/*
 * The loader's internals: an ELF64 image parsed and checked (elf.c), then
 * mapped and given its stack (load.c).
 */
#ifndef MMK_LOADER_INTERNAL_H
#define MMK_LOADER_INTERNAL_H

#include <mmkit/loader.h>

/* ELF64 constants the loader reads (the ELF specification's values). */
#define MMK__ELF_EHDR_SIZE 64u
#define MMK__ELF_PHDR_SIZE 56u
#define MMK__ELF_CLASS64   2u
#define MMK__ELF_DATA_LE   1u
#define MMK__ELF_VERSION   1u
#define MMK__ET_EXEC	   2u
#define MMK__ET_DYN	   3u
#define MMK__PT_LOAD	   1u
#define MMK__PT_PHDR	   6u
#define MMK__PF_X	   0x1u
#define MMK__PF_W	   0x2u
#define MMK__PF_R	   0x4u
#define MMK__EM_X86_64	   62u
#define MMK__EM_AARCH64	   183u
#define MMK__EM_RISCV	   243u
#define MMK__EM_LOONGARCH  258u

/* One PT_LOAD segment as the file gives it (no bias). */
struct mmk__ld_seg {
	uint64_t vaddr, memsz, offset, filesz;
	uint32_t prot; /* MMK_PT_READ/WRITE/EXEC from p_flags */
};

/* A checked image: its segments, the page-aligned span they cover. */
struct mmk__ld_image {
	unsigned type; /* MMK__ET_EXEC or MMK__ET_DYN */
	uint64_t entry, phoff;
	unsigned phnum;
	bool has_phdr; /* a PT_PHDR gave phdr_vaddr */
	uint64_t phdr_vaddr;
	uint64_t lo, hi;    /* [lo, hi): every segment's pages, page aligned */
	uint64_t max_align; /* largest p_align of a PT_LOAD (power of two) */
	unsigned nseg;
	struct mmk__ld_seg seg[MMK_LOADER_MAX_LOADS];
};

/*
 * Copy @len bytes at @off of the image into @dst.  The caller checked
 * that they lie inside src->size.  Through the pager each page is read
 * with get_page and its reference put at once.  Errors: the pager's.
 */
int mmk__ld_read(const struct mmk_loader_source *src, uint64_t off, void *dst,
		 uint64_t len);

/*
 * Read and check the headers of @src for a space of base page @page and
 * ELF machine @machine into *@img.  Changes nothing else.  Errors: those
 * of mmk_loader_load about the image (MMK_EINVAL, MMK_ENOTSUP, MMK_ERANGE,
 * MMK_EWRAP, MMK_EEXIST, MMK_EACCES), the pager's.
 */
int mmk__ld_parse(const struct mmk_loader_source *src, uint64_t page,
		  unsigned machine, unsigned flags, struct mmk__ld_image *img);

#endif
