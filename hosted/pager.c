/* SPDX-License-Identifier: MIT */
/* A pager over an in-memory file: see mmk_hosted_pager.h. */
#include "mmk_hosted_pager.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mmk_hosted_file {
	struct mmk_file file; /* first: the ops find us from it */
	struct mmk_frames *fa;
	uint64_t npages;
	unsigned shift; /* page size of the file: 1 << shift */
	unsigned char *data;
	uint64_t *cache; /* pa of the cache frame, 0 if none */
	unsigned char *dirty;
	uint64_t ncached, ndirty;
	long calls[MMK_HOSTED_PAGER_NCALLS];
	long fail_at[MMK_HOSTED_PAGER_NCALLS]; /* call number, 0: none */
	int fail_err[MMK_HOSTED_PAGER_NCALLS];
	bool released, kernel_ref;
	pthread_mutex_t lock;
};

#define PAGE ((uint64_t)1 << hf->shift)

static struct mmk_hosted_file *hf_of(struct mmk_file *f)
{
	return (struct mmk_hosted_file *)f;
}

/* Count a call of kind @c; the injected error if it is the chosen one. */
static int count_call(struct mmk_hosted_file *hf, enum mmk_hosted_pager_call c)
{
	long n = ++hf->calls[c];
	if (hf->fail_at[c] && n == hf->fail_at[c]) {
		hf->fail_at[c] = 0;
		return hf->fail_err[c];
	}
	return 0;
}

/* Read page @idx into the cache (lock held). */
static int cache_in(struct mmk_hosted_file *hf, uint64_t idx)
{
	if (idx >= hf->npages)
		return MMK_ERANGE;
	if (hf->cache[idx])
		return 0;
	mmk_paddr_t pa;
	int err = mmk_frame_alloc(hf->fa, hf->shift - MMK_PAGE_SHIFT, 0, &pa);
	if (err)
		return err;
	memcpy(mmk_phys_to_virt(pa), hf->data + idx * PAGE, PAGE);
	hf->cache[idx] = pa.v;
	hf->ncached++;
	return 0;
}

static int hf_get_page(struct mmk_file *f, uint64_t idx, unsigned flags,
		       mmk_paddr_t *pa)
{
	struct mmk_hosted_file *hf = hf_of(f);
	pthread_mutex_lock(&hf->lock);
	int err = count_call(hf, MMK_HOSTED_PAGER_GET);
	if (!err && idx >= hf->npages)
		err = MMK_EFAULT; /* past the end: SIGBUS */
	if (!err && !hf->cache[idx] && (flags & MMK_PAGER_CACHED))
		err = MMK_ENOENT;
	if (!err)
		err = cache_in(hf, idx);
	if (!err) {
		*pa = mmk_pa(hf->cache[idx]);
		err = mmk_frame_get(hf->fa, *pa);
	}
	pthread_mutex_unlock(&hf->lock);
	return err;
}

static int hf_set_dirty(struct mmk_file *f, uint64_t idx)
{
	struct mmk_hosted_file *hf = hf_of(f);
	pthread_mutex_lock(&hf->lock);
	int err = count_call(hf, MMK_HOSTED_PAGER_DIRTY);
	if (!err && (idx >= hf->npages || !hf->cache[idx]))
		err = MMK_EINVAL; /* never given out by get_page */
	if (!err && !hf->dirty[idx]) {
		hf->dirty[idx] = 1;
		hf->ndirty++;
	}
	pthread_mutex_unlock(&hf->lock);
	return err;
}

static void write_one(struct mmk_hosted_file *hf, uint64_t i)
{
	memcpy(hf->data + i * PAGE, mmk_phys_to_virt(mmk_pa(hf->cache[i])),
	       PAGE);
	hf->dirty[i] = 0;
	hf->ndirty--;
}

static int hf_writeback(struct mmk_file *f, uint64_t first, uint64_t count)
{
	struct mmk_hosted_file *hf = hf_of(f);
	pthread_mutex_lock(&hf->lock);
	int err = count_call(hf, MMK_HOSTED_PAGER_WRITEBACK);
	for (uint64_t i = first; !err && i < first + count && i < hf->npages;
	     i++)
		if (hf->dirty[i])
			write_one(hf, i);
	pthread_mutex_unlock(&hf->lock);
	return err;
}

static void hf_release(struct mmk_file *f)
{
	struct mmk_hosted_file *hf = hf_of(f);
	pthread_mutex_lock(&hf->lock);
	for (uint64_t i = 0; i < hf->npages; i++) {
		if (!hf->cache[i])
			continue;
		if (hf->dirty[i])
			write_one(hf, i);
		/* leaves of an unmap being finished may still hold theirs
		 * (put after the flush) */
		if (mmk_frame_put(hf->fa, mmk_pa(hf->cache[i])) < 0)
			abort();
		hf->cache[i] = 0;
		hf->ncached--;
	}
	hf->released = true;
	pthread_mutex_unlock(&hf->lock);
}

static const struct mmk_pager_ops hf_ops = {
	.get_page = hf_get_page,
	.set_dirty = hf_set_dirty,
	.writeback = hf_writeback,
	.release = hf_release,
};

struct mmk_hosted_file *mmk_hosted_file_new_ps(struct mmk_frames *fa,
					       uint64_t npages,
					       unsigned page_shift)
{
	struct mmk_hosted_file *hf = calloc(1, sizeof(*hf));
	if (!hf)
		abort();
	hf->fa = fa;
	hf->npages = npages;
	hf->shift = page_shift;
	hf->data = calloc(npages ? npages : 1, PAGE);
	hf->cache = calloc(npages ? npages : 1, sizeof(*hf->cache));
	hf->dirty = calloc(npages ? npages : 1, 1);
	if (!hf->data || !hf->cache || !hf->dirty)
		abort();
	pthread_mutex_init(&hf->lock, NULL);
	mmk_file_init(&hf->file, &hf_ops, fa, page_shift);
	hf->kernel_ref = true;
	return hf;
}

struct mmk_hosted_file *mmk_hosted_file_new(struct mmk_frames *fa,
					    uint64_t npages)
{
	return mmk_hosted_file_new_ps(fa, npages, MMK_PAGE_SHIFT);
}

struct mmk_file *mmk_hosted_file_file(struct mmk_hosted_file *hf)
{
	return &hf->file;
}

unsigned char *mmk_hosted_file_data(struct mmk_hosted_file *hf)
{
	return hf->data;
}

int mmk_hosted_file_cache(struct mmk_hosted_file *hf, uint64_t idx)
{
	pthread_mutex_lock(&hf->lock);
	int err = cache_in(hf, idx);
	pthread_mutex_unlock(&hf->lock);
	return err;
}

mmk_paddr_t mmk_hosted_file_cache_pa(struct mmk_hosted_file *hf, uint64_t idx)
{
	pthread_mutex_lock(&hf->lock);
	mmk_paddr_t pa = mmk_pa(idx < hf->npages ? hf->cache[idx] : 0);
	pthread_mutex_unlock(&hf->lock);
	return pa;
}

uint64_t mmk_hosted_file_cached(struct mmk_hosted_file *hf)
{
	pthread_mutex_lock(&hf->lock);
	uint64_t n = hf->ncached;
	pthread_mutex_unlock(&hf->lock);
	return n;
}

uint64_t mmk_hosted_file_ndirty(struct mmk_hosted_file *hf)
{
	pthread_mutex_lock(&hf->lock);
	uint64_t n = hf->ndirty;
	pthread_mutex_unlock(&hf->lock);
	return n;
}

bool mmk_hosted_file_dirty(struct mmk_hosted_file *hf, uint64_t idx)
{
	pthread_mutex_lock(&hf->lock);
	bool d = idx < hf->npages && hf->dirty[idx];
	pthread_mutex_unlock(&hf->lock);
	return d;
}

long mmk_hosted_file_calls(struct mmk_hosted_file *hf,
			   enum mmk_hosted_pager_call c)
{
	pthread_mutex_lock(&hf->lock);
	long n = hf->calls[c];
	pthread_mutex_unlock(&hf->lock);
	return n;
}

void mmk_hosted_file_fail_nth(struct mmk_hosted_file *hf,
			      enum mmk_hosted_pager_call c, long n, int err)
{
	pthread_mutex_lock(&hf->lock);
	hf->fail_at[c] = hf->calls[c] + n;
	hf->fail_err[c] = err;
	pthread_mutex_unlock(&hf->lock);
}

void mmk_hosted_file_fail_off(struct mmk_hosted_file *hf)
{
	pthread_mutex_lock(&hf->lock);
	for (int c = 0; c < MMK_HOSTED_PAGER_NCALLS; c++)
		hf->fail_at[c] = 0;
	pthread_mutex_unlock(&hf->lock);
}

bool mmk_hosted_file_released(struct mmk_hosted_file *hf)
{
	pthread_mutex_lock(&hf->lock);
	bool r = hf->released;
	pthread_mutex_unlock(&hf->lock);
	return r;
}

void mmk_hosted_file_destroy(struct mmk_hosted_file *hf)
{
	if (hf->kernel_ref) {
		hf->kernel_ref = false;
		mmk_file_put(&hf->file);
	}
	if (!mmk_hosted_file_released(hf)) {
		fprintf(stderr, "hosted pager: file still mapped\n");
		abort();
	}
	pthread_mutex_destroy(&hf->lock);
	free(hf->data);
	free(hf->cache);
	free(hf->dirty);
	free(hf);
}
