/* SPDX-License-Identifier: MIT */
/*
 * The bare-metal HAL shared by the four demo kernels: one CPU, interrupts
 * never enabled, RAM mapped at VA == PA, metadata objects from a small
 * static pool.  TLB maintenance and mmk_hal_write_root are per
 * architecture (demo/<arch>/arch.c).
 */
#include "demo.h"

uintptr_t mmk_hal_pv_offset; /* 0: the demo maps RAM at VA == PA */

/*
 * Objects: power-of-two size classes from 16 to 4096 bytes, carved from a
 * static pool and recycled on per-class free lists.  Enough for the
 * metadata of a few address spaces; fails (NULL) when the pool runs out.
 */
#define POOL_SIZE (256 * 1024)
static uint8_t pool[POOL_SIZE] __attribute__((aligned(4096)));
static size_t pool_used;
static void *free_list[9]; /* 16 << i */

static unsigned size_class(size_t size, size_t align)
{
	size_t need = MMK_MAX(size, align);
	unsigned c = 0;
	while (((size_t)16 << c) < need)
		c++;
	return c;
}

void *mmk_hal_obj_alloc(size_t size, size_t align)
{
	if (size == 0 || size > 4096 || align > 4096)
		return NULL;
	unsigned c = size_class(size, align);
	size_t bytes = (size_t)16 << c;
	if (free_list[c]) {
		void *p = free_list[c];
		free_list[c] = *(void **)p;
		return p;
	}
	size_t at = MMK_ALIGN_UP(pool_used, bytes);
	if (at + bytes > POOL_SIZE)
		return NULL;
	pool_used = at + bytes;
	return pool + at;
}

void mmk_hal_obj_free(void *p, size_t size)
{
	if (!p)
		return;
	unsigned c = size_class(size, 1);
	/* Objects were aligned to their class, so the class is the same as
	 * at allocation for any align <= the class size. */
	*(void **)p = free_list[c];
	free_list[c] = p;
}

unsigned mmk_hal_cpu_id(void)
{
	return 0;
}

/* Interrupts stay disabled for the whole run: nothing to save. */
unsigned long mmk_hal_irq_save(void)
{
	return 0;
}

void mmk_hal_irq_restore(unsigned long flags)
{
	(void)flags;
}

void mmk_hal_cpu_relax(void)
{
}

void mmk_hal_log(int level, const char *line)
{
	static const char *const tag[] = {"error", "warn", "info", "debug"};
	demo_printf("mmkit %s: %s\n", (unsigned)level < 4 ? tag[level] : "?",
		    line);
}
