/* SPDX-License-Identifier: MIT */
/*
 * The tiny HAL of the kernel-like test project: one CPU, interrupts never
 * on, "RAM" a static array whose physical addresses start at KM_RAM_PA, and
 * metadata objects from a bump pool (never freed; enough for a test).
 */
#include "km.h"

#include <stdio.h>

uintptr_t mmk_hal_pv_offset;
_Alignas(4096) unsigned char km_ram[KM_RAM_SIZE];

void km_hal_init(void)
{
	mmk_hal_pv_offset = (uintptr_t)km_ram - KM_RAM_PA;
}

void *mmk_hal_obj_alloc(size_t size, size_t align)
{
	static _Alignas(64) unsigned char pool[64 * 1024];
	static size_t used;
	size_t at = (used + align - 1) & ~(align - 1);
	if (at + size > sizeof(pool))
		return NULL;
	used = at + size;
	return pool + at;
}

void mmk_hal_obj_free(void *p, size_t size)
{
	(void)p;
	(void)size;
}

unsigned mmk_hal_cpu_id(void)
{
	return 0;
}

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

void mmk_hal_tlb_flush_range(const mmk_cpumask_t *cpus, uint32_t asid,
			     mmk_vaddr_t start, mmk_vaddr_t end, bool global)
{
}

void mmk_hal_tlb_flush_all(const mmk_cpumask_t *cpus, uint32_t asid)
{
}

void mmk_hal_write_root(mmk_paddr_t root, uint32_t asid, uint64_t regval)
{
}

void mmk_hal_log(int level, const char *line)
{
	printf("mmkit: %s\n", line);
}
