/* SPDX-License-Identifier: MIT */
/*
 * mmkit — a pager over an in-memory file, for tests and benchmarks.
 *
 * The "disk" is a malloc'd byte array (data); the page cache holds frames
 * of the given allocator, read in from the disk by get_page (or ahead of
 * time by mmk_hosted_file_cache), each with the cache's own reference.
 * set_dirty marks a cached page dirty, writeback copies dirty pages to the
 * disk and marks them clean; release (the last reference) writes back
 * what is dirty and empties the cache.  Every call is counted, and any of
 * them can be made to fail with a chosen error.  Thread-safe.
 *
 * Unlike the rest of the hosted HAL it calls into the core (the frame
 * allocator, mmk_file_init/put): it plays the kernel's page cache, so a
 * program that uses it links the core, as every test does.
 */
#ifndef MMK_HOSTED_PAGER_H
#define MMK_HOSTED_PAGER_H

#include <mmkit/pager.h>

#ifdef __cplusplus
extern "C" {
#endif

enum mmk_hosted_pager_call {
	MMK_HOSTED_PAGER_GET,
	MMK_HOSTED_PAGER_DIRTY,
	MMK_HOSTED_PAGER_WRITEBACK,
	MMK_HOSTED_PAGER_NCALLS
};

struct mmk_hosted_file;

/** A file of @npages 4 KiB pages (zeroed) cached in frames of @fa. */
struct mmk_hosted_file *mmk_hosted_file_new(struct mmk_frames *fa,
					    uint64_t npages);
/** The same with pages of 1 << @page_shift bytes (a format's base page). */
struct mmk_hosted_file *mmk_hosted_file_new_ps(struct mmk_frames *fa,
					       uint64_t npages,
					       unsigned page_shift);
/** The struct mmk_file to map (holds the creator's reference). */
struct mmk_file *mmk_hosted_file_file(struct mmk_hosted_file *hf);
/** The disk: npages pages. */
unsigned char *mmk_hosted_file_data(struct mmk_hosted_file *hf);
/** Read page @idx into the cache now (0 or MMK_ENOMEM/MMK_ERANGE). */
int mmk_hosted_file_cache(struct mmk_hosted_file *hf, uint64_t idx);
/** The cache frame of page @idx (pa 0 if not cached). */
mmk_paddr_t mmk_hosted_file_cache_pa(struct mmk_hosted_file *hf, uint64_t idx);
/** Pages in the cache (frames it holds). */
uint64_t mmk_hosted_file_cached(struct mmk_hosted_file *hf);
/** Dirty pages in the cache; is page @idx dirty. */
uint64_t mmk_hosted_file_ndirty(struct mmk_hosted_file *hf);
bool mmk_hosted_file_dirty(struct mmk_hosted_file *hf, uint64_t idx);
/** Calls of kind @c so far. */
long mmk_hosted_file_calls(struct mmk_hosted_file *hf,
			   enum mmk_hosted_pager_call c);
/** The @n-th call of kind @c from now (1 = the next) fails with @err. */
void mmk_hosted_file_fail_nth(struct mmk_hosted_file *hf,
			      enum mmk_hosted_pager_call c, long n, int err);
/** Stop injecting failures. */
void mmk_hosted_file_fail_off(struct mmk_hosted_file *hf);
/** True once the last reference went (release was called). */
bool mmk_hosted_file_released(struct mmk_hosted_file *hf);
/** Drop the creator's reference if still held; free it all once
 *  released (aborts if mappings still hold references). */
void mmk_hosted_file_destroy(struct mmk_hosted_file *hf);

#ifdef __cplusplus
}
#endif

#endif /* MMK_HOSTED_PAGER_H */
