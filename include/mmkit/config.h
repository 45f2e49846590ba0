/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the build configuration, one for the core and for every user.
 *
 * Every public header includes this one first (through types.h), so the core
 * under src/ and the kernel code that includes mmkit's headers read the same
 * options.  Give them in one place:
 *
 *  - either a header of the kernel's own, `mmkit_config.h`, found on the
 *    include path and read when MMK_CFG_USER_CONFIG is defined
 *    (-DMMK_CFG_USER_CONFIG on every compile, core and kernel alike);
 *  - or -D flags given identically to the core and to the kernel's code.
 *
 * Options (defaults below; booleans are 0 or 1):
 *
 *  Layout options: they change public struct layouts or what the headers
 *  declare, so the core and its users must agree (checked at link time,
 *  see "The link-time check" below):
 *   MMK_CFG_MAX_CPUS        (64) CPU ids are < this: size of CPU masks and of
 *        the per-CPU arrays in struct mmk_frames, mmk_aspace and the slab
 *        caches.  A decimal integer literal (it is pasted into a symbol).
 *   MMK_CFG_DEBUG_HOOKS     (0) the failure-injection and accounting hooks
 *        (mmk_hal_failpoint, mmk_hal_frame_note) are HAL functions; with 0
 *        they are empty inlines.  Test HALs only.
 *   MMK_CFG_DEBUG           (0) internal assertions (MMK_ASSERT_INTERNAL).
 *   MMK_CFG_HAL_LINEAR_MAP  (1) phys<->virt is an add of mmk_hal_pv_offset,
 *        inlined; with 0 the kernel gives mmk_hal_phys_to_virt/virt_to_phys.
 *   MMK_CFG_MSET_FANOUT     (16) slots per area-tree node; sizes struct
 *        mmk_mset_txn, which every struct mmk_aspace holds.
 *
 *  Options that change only the code of the file compiled (core or user may
 *  differ; keep them equal anyway):
 *   MMK_CFG_EXPENSIVE_CHECKS (0) with MMK_CFG_DEBUG: MMK_ASSERT_EXPENSIVE.
 *   MMK_CFG_HAL_INLINE      (undefined) a header giving the CPU and IRQ hooks
 *        as static inline functions (hal.h).
 *   MMK_CFG_SLAB_DEBUG      (0) red zones and poisoning in slab caches (core).
 *   MMK_CFG_SLAB_MAG        (64) words of one CPU's magazine of a cache: up to
 *                           MMK_CFG_SLAB_MAG - 2 objects; a power of two,
 *                           8 to 32768 (core).
 *   MMK_CFG_PT_ONLY_<ARCH>  compile in only that architecture's page-table
 *        formats (src/pt/formats.h; several may be given).
 *   MMK_CFG_MSET_NO_PREFETCH, MMK_CFG_MSET_LEAF_SLACK  area-tree tuning
 *        (src/mset/mset_internal.h).
 *
 * The link-time check: this header makes every file that includes it refer
 * to a symbol whose name spells the layout options, e.g.
 * mmk__cfg_cpus64_hooks0_debug0_linmap1_fan16, and src/lib/config.c defines the
 * one symbol of the configuration the core was built with.  Code built with
 * other layout options fails to link with "undefined reference to
 * mmk__cfg_<its options>" instead of crashing at run time.  The reference is
 * kept under --gc-sections (attribute `retain`: GCC >= 11 or clang >= 13
 * with binutils >= 2.36; older toolchains keep it only without gc).
 */
#ifndef MMKIT_CONFIG_H
#define MMKIT_CONFIG_H

#ifdef MMK_CFG_USER_CONFIG
#include <mmkit_config.h>
#endif

#ifndef MMK_CFG_MAX_CPUS
#define MMK_CFG_MAX_CPUS 64
#endif
#ifndef MMK_CFG_DEBUG_HOOKS
#define MMK_CFG_DEBUG_HOOKS 0
#endif
#ifndef MMK_CFG_DEBUG
#define MMK_CFG_DEBUG 0
#endif
#ifndef MMK_CFG_HAL_LINEAR_MAP
#define MMK_CFG_HAL_LINEAR_MAP 1
#endif
/* 1: the kernel gives local TLB flushes and one shootdown call (hal.h) */
#ifndef MMK_CFG_HAL_TLB_SHOOTDOWN
#define MMK_CFG_HAL_TLB_SHOOTDOWN 0
#endif
#ifndef MMK_CFG_EXPENSIVE_CHECKS
#define MMK_CFG_EXPENSIVE_CHECKS 0
#endif
#ifndef MMK_CFG_SLAB_DEBUG
#define MMK_CFG_SLAB_DEBUG 0
#endif
#ifndef MMK_CFG_SLAB_MAG
#define MMK_CFG_SLAB_MAG 64
#endif

#if !(MMK_CFG_MAX_CPUS >= 1 && MMK_CFG_MAX_CPUS <= 65536)
#error "MMK_CFG_MAX_CPUS must be a decimal integer in 1..65536"
#endif

/* ---------------------------------------------------- the link-time check */
#if MMK_CFG_DEBUG_HOOKS
#define MMK__CFG_HOOKS hooks1
#else
#define MMK__CFG_HOOKS hooks0
#endif
#if MMK_CFG_DEBUG
#define MMK__CFG_DBG debug1
#else
#define MMK__CFG_DBG debug0
#endif
#if MMK_CFG_HAL_LINEAR_MAP
#define MMK__CFG_LIN linmap1
#else
#define MMK__CFG_LIN linmap0
#endif
/* The memory set's fanout sizes struct mmk_mset_txn, which a space holds:
 * layout-relevant like the rest. */
#ifndef MMK_CFG_MSET_FANOUT
#define MMK_CFG_MSET_FANOUT 16
#endif
#define MMK__CFG_CAT2(c, h, d, l, f) mmk__cfg_cpus##c##_##h##_##d##_##l##_fan##f
#define MMK__CFG_CAT(c, h, d, l, f)  MMK__CFG_CAT2(c, h, d, l, f)
/** The symbol naming this configuration (defined in src/lib/config.c). */
#define MMK__CFG_SYMBOL                                                        \
	MMK__CFG_CAT(MMK_CFG_MAX_CPUS, MMK__CFG_HOOKS, MMK__CFG_DBG,           \
		     MMK__CFG_LIN, MMK_CFG_MSET_FANOUT)

/*
 * `retain` keeps the reference alive under the linker's --gc-sections.
 * clang takes it on every target (a no-op where it means nothing, and
 * x86_64-unknown-elf does not define __ELF__); GCC warns outside ELF.
 */
#if defined(__has_attribute)
#if __has_attribute(retain) && (defined(__clang__) || defined(__ELF__))
#define MMK__CFG_KEEP __attribute__((used, retain))
#endif
#endif
#ifndef MMK__CFG_KEEP
#define MMK__CFG_KEEP __attribute__((used))
#endif

#ifdef __cplusplus
extern "C" {
#endif

extern const char MMK__CFG_SYMBOL;
/* One pointer per object file: its relocation is the check. */
MMK__CFG_KEEP static const char *const mmk__cfg_check = &MMK__CFG_SYMBOL;

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_CONFIG_H */
