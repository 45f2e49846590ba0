/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the ELF loader: a static or PIE ELF64 program into a space, and
 * its initial stack laid out as Linux lays it out.
 *
 * The image comes from memory (a buffer the kernel read the file into) or
 * through the pager (a struct mmk_file, include/mmkit/pager.h).  Each
 * PT_LOAD segment becomes areas with the segment's protection (plus
 * MMK_PT_USER):
 *
 *   p_vaddr (page down)            vaddr+filesz         vaddr+memsz (page up)
 *   |--- whole file pages ---------|-- partial --|------ bss pages ------|
 *    file-private mapping (pager)    copied, the rest zero (alloc area)
 *    or copied (buffer)
 *
 * Through the pager the pages wholly inside the file's bytes are a
 * file-private mapping (copy on write: the file never changes); the page
 * the file's bytes end in and the bss are an alloc area filled now.  From
 * a buffer every page is an alloc area filled now.  The bytes before
 * p_vaddr in its first page are the file's bytes before p_offset (as
 * Linux maps them: the ELF header shows in the first page of text).
 *
 * Then a stack: [stack_top - stack_size, stack_top) read-write, with a
 * guard gap below it (mmk_aspace_map_guard), and on it, from sp up:
 *
 *   sp ->  argc
 *          argv[0] ... argv[argc - 1], 0
 *          envp[0] ... envp[envc - 1], 0
 *          auxv: (AT_PHDR, ..) (AT_PHENT, 56) (AT_PHNUM, ..) (AT_PAGESZ, ..)
 *                (AT_BASE, ..) (AT_ENTRY, ..) (AT_RANDOM, ..) (AT_NULL, 0)
 *          (padding)
 *          16 random bytes (AT_RANDOM points here)
 *          (padding to 16)
 *          argv strings, envp strings (NUL-terminated)
 *          8 zero bytes
 *   stack_top
 *
 * sp is 16-byte aligned.  The program break starts at the first page past
 * the last segment (mmk_loader_result.brk); nothing is mapped there.
 *
 * All or nothing: the image's and the stack's ranges must be free; on any
 * error the call unmaps both whole and the space is as it was (areas,
 * page-table entries, frames, objects).  (Should an alloc area of the
 * call have merged with an equal area just outside those ranges, that
 * unmap is a split, which needs memory of its own.)
 * PT_INTERP is not followed: a caller that wants an interpreter loads it
 * itself and passes its base as AT_BASE (interp_base).
 *
 * Locking: takes the space's lock through the mmk_aspace_* calls; call it
 * with no lock of @as held.  Not from interrupt context.
 */
#ifndef MMKIT_LOADER_H
#define MMKIT_LOADER_H

#include <mmkit/aspace.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mmk_file;

/** Limits: program headers, PT_LOAD segments (a static image has 2..6). */
#define MMK_LOADER_MAX_PHNUM 256u
#define MMK_LOADER_MAX_LOADS 8u

/** Defaults when the argument is 0. */
#define MMK_LOADER_STACK_SIZE (8 * MMK_MIB) /* Linux's RLIMIT_STACK */
#define MMK_LOADER_GUARD_SIZE (1 * MMK_MIB) /* Linux's stack_guard_gap */

/** mmk_loader_args.flags */
#define MMK_LOADER_ALLOW_WX 0x1u /* map segments both writable and exec */
#define MMK_LOADER_BIAS	    0x2u /* ET_DYN: load_bias as given, even 0 */

/** Where the image is: a buffer, or a file through the pager. */
struct mmk_loader_source {
	const void *data;      /* the image in memory (NULL: use file) */
	uint64_t size;	       /* its size in bytes (buffer or file) */
	struct mmk_file *file; /* or the file, read through its pager */
};

/** What the program gets. */
struct mmk_loader_args {
	const char *const *argv; /* argc strings */
	size_t argc;
	const char *const *envp; /* envc strings */
	size_t envc;
	const uint8_t *random; /* 16 bytes for AT_RANDOM (NULL: zeros) */
	/* ET_DYN: the load bias (base page aligned); with 0 and without
	 * MMK_LOADER_BIAS, a free range from a third of the space up. */
	uint64_t load_bias;
	uint64_t interp_base;  /* AT_BASE (0: none) */
	mmk_vaddr_t stack_top; /* 0: the space's end */
	uint64_t stack_size;   /* 0: MMK_LOADER_STACK_SIZE */
	uint64_t guard_size;   /* 0: MMK_LOADER_GUARD_SIZE */
	unsigned flags;	       /* MMK_LOADER_* */
};

/** What a process setup (and brk) takes from the loaded image. */
struct mmk_loader_result {
	mmk_vaddr_t entry;     /* e_entry + load_bias: where to start */
	mmk_vaddr_t sp;	       /* the initial stack pointer (argc there) */
	mmk_vaddr_t brk;       /* the program break's start (page aligned) */
	uint64_t load_bias;    /* 0 for ET_EXEC */
	mmk_vaddr_t image_lo;  /* first page of the lowest segment */
	mmk_vaddr_t image_hi;  /* end of the last segment's last page */
	mmk_vaddr_t stack_lo;  /* the stack area [stack_lo, stack_hi) */
	mmk_vaddr_t stack_hi;  /* (the guard gap is below stack_lo) */
	mmk_vaddr_t argv;      /* address of argv[0]'s pointer */
	mmk_vaddr_t envp;      /* address of envp[0]'s pointer */
	mmk_vaddr_t auxv;      /* address of the first auxv pair */
	mmk_vaddr_t at_random; /* AT_RANDOM: the 16 random bytes */
	mmk_vaddr_t at_phdr;   /* AT_PHDR: the program headers in memory */
	uint64_t at_phent;     /* AT_PHENT: 56 */
	uint64_t at_phnum;     /* AT_PHNUM */
	uint64_t at_pagesz;    /* AT_PAGESZ: the space's base page */
	unsigned nsegments;    /* PT_LOAD segments mapped */
};

/** auxv keys the loader writes (Linux's values). */
#define MMK_AT_NULL   0
#define MMK_AT_PHDR   3
#define MMK_AT_PHENT  4
#define MMK_AT_PHNUM  5
#define MMK_AT_PAGESZ 6
#define MMK_AT_BASE   7
#define MMK_AT_ENTRY  9
#define MMK_AT_RANDOM 25

/**
 * Load the ELF64 image @src into @as and build its initial stack (see
 * above); fill *@out.  The image must be little-endian, ET_EXEC or ET_DYN,
 * for the space's architecture (e_machine x86_64, riscv64, aarch64 or
 * loongarch64 as the space's page-table format).  Errors, nothing
 * changed: MMK_EINVAL (@as, @src, @args or @out NULL, no data and no
 * file; bad magic, class, byte order, version or type; e_phentsize not
 * 56; e_phnum 0 or above MMK_LOADER_MAX_PHNUM; more than
 * MMK_LOADER_MAX_LOADS PT_LOAD segments or none; p_filesz > p_memsz;
 * p_offset and p_vaddr not congruent modulo the base page), MMK_ENOTSUP
 * (e_machine not the space's architecture), MMK_ERANGE (headers or a
 * segment's file bytes past the image's size; a segment, the stack or its
 * guard outside the space; the strings and vectors do not fit the stack),
 * MMK_EWRAP (p_vaddr + p_memsz, p_offset + p_filesz or the bias wraps),
 * MMK_EALIGN (a load bias, stack top or size not page aligned), MMK_EEXIST
 * (two segments share a page, or an area is already there), MMK_EACCES
 * (a segment writable and executable without MMK_LOADER_ALLOW_WX),
 * MMK_EFAULT (an argv or envp string pointer NULL), MMK_ENOMEM, or the
 * pager's error reading the file.
 */
int mmk_loader_load(struct mmk_aspace *as, const struct mmk_loader_source *src,
		    const struct mmk_loader_args *args,
		    struct mmk_loader_result *out);

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_LOADER_H */
