/* SPDX-License-Identifier: MIT */
/*
 * The public structs whose layout C and C++ must agree on, as an X-macro
 * list: layout_gen.c (C) prints what the C compiler makes of them and
 * test_cxx.cpp asserts at compile time that C++ makes the same.
 *
 *   MMK_L_TYPE(name, type)          sizeof and alignof of @type
 *   MMK_L_FIELD(name, type, field)  offsetof(@type, @field)
 *
 * Every struct of the public headers is listed; fields are listed where C
 * and C++ spell the type differently (MMK_ATOMIC) and for the field that
 * follows each, so a difference in size or alignment of an atomic shows.
 * A new public struct gets a MMK_L_TYPE line here.  cross-layout.sh
 * compares the same list for each target, without the hosted HAL's struct.
 */
MMK_L_TYPE(paddr, mmk_paddr_t)
MMK_L_TYPE(spinlock, mmk_spinlock_t)
MMK_L_FIELD(spinlock_owner, mmk_spinlock_t, owner)
MMK_L_TYPE(rwlock, mmk_rwlock_t)
MMK_L_TYPE(cpumask, mmk_cpumask_t)
MMK_L_TYPE(prange, struct mmk_prange)
MMK_L_TYPE(bootmem, struct mmk_bootmem)
MMK_L_TYPE(frame, struct mmk_frame)
MMK_L_FIELD(frame_next, struct mmk_frame, next)
MMK_L_TYPE(frame_region, struct mmk_frame_region)
MMK_L_TYPE(frame_pcp, struct mmk_frame_pcp)
MMK_L_TYPE(frames, struct mmk_frames)
MMK_L_FIELD(frames_nregions, struct mmk_frames, nregions)
MMK_L_FIELD(frames_pcp, struct mmk_frames, pcp)
MMK_L_TYPE(frame_stats, struct mmk_frame_stats)
MMK_L_TYPE(slab_stats, struct mmk_slab_stats)
MMK_L_TYPE(pt_info, struct mmk_pt_info)
MMK_L_TYPE(pt, struct mmk_pt)
MMK_L_FIELD(pt_tables, struct mmk_pt, tables)
MMK_L_FIELD(pt_shift, struct mmk_pt, shift)
MMK_L_FIELD(pt_gen, struct mmk_pt, gen)
MMK_L_FIELD(pt_nborrowed, struct mmk_pt, nborrowed)
MMK_L_FIELD(pt_nshared, struct mmk_pt, nshared)
MMK_L_FIELD(pt_zombies, struct mmk_pt, zombies)
MMK_L_TYPE(tlb_gather, struct mmk_tlb_gather)
MMK_L_TYPE(tlb_range, struct mmk_tlb_range)
MMK_L_TYPE(tlb_flush, struct mmk_tlb_flush)
MMK_L_TYPE(tlb_ctx, struct mmk_tlb_ctx)
MMK_L_FIELD(tlb_ctx_id, struct mmk_tlb_ctx, id)
MMK_L_FIELD(tlb_ctx_fixed, struct mmk_tlb_ctx, fixed)
MMK_L_TYPE(pt_resv, struct mmk_pt_resv)
MMK_L_TYPE(pt_cursor, struct mmk_pt_cursor)
MMK_L_TYPE(pt_leaf, struct mmk_pt_leaf)
MMK_L_FIELD(pt_leaf_shared, struct mmk_pt_leaf, shared)
MMK_L_TYPE(mset_txn, struct mmk_mset_txn)
MMK_L_TYPE(mset_area, struct mmk_mset_area)
MMK_L_TYPE(mset, struct mmk_mset)
MMK_L_TYPE(aspace_rcount, struct mmk__aspace_rcount)
MMK_L_TYPE(aspace, struct mmk_aspace)
MMK_L_FIELD(aspace_wlock, struct mmk_aspace, wlock)
MMK_L_FIELD(aspace_writer, struct mmk_aspace, writer)
MMK_L_FIELD(aspace_readers, struct mmk_aspace, readers)
MMK_L_FIELD(aspace_fit, struct mmk_aspace, fit)
MMK_L_FIELD(aspace_zero_page, struct mmk_aspace, zero_page)
MMK_L_FIELD(aspace_areas, struct mmk_aspace, areas)
MMK_L_TYPE(aspace_area, struct mmk_aspace_area)
MMK_L_TYPE(fault, struct mmk_fault)
MMK_L_TYPE(backend, struct mmk_backend)
MMK_L_TYPE(fault_page, struct mmk_fault_page)
MMK_L_TYPE(aspace_op_, struct mmk_aspace_op)
MMK_L_TYPE(pager_ops, struct mmk_pager_ops)
MMK_L_TYPE(file, struct mmk_file)
MMK_L_FIELD(file_around, struct mmk_file, around)
MMK_L_FIELD(file_refs, struct mmk_file, refs)
MMK_L_TYPE(pt_page_source, struct mmk_pt_page_source)
MMK_L_TYPE(kspace_region, struct mmk_kspace_region)
MMK_L_TYPE(kspace_section, struct mmk_kspace_section)
MMK_L_TYPE(kspace_config, struct mmk_kspace_config)
MMK_L_FIELD(kspace_config_mt_fallback, struct mmk_kspace_config, mt_fallback)
MMK_L_TYPE(kmapper, struct mmk_kmapper)
MMK_L_TYPE(kflush, struct mmk_kflush)
MMK_L_TYPE(sys_mm, struct mmk_sys_mm)
MMK_L_FIELD(sys_mm_shared, struct mmk_sys_mm, shared)
MMK_L_TYPE(sys_shared_ops, struct mmk_sys_shared_ops)
#ifndef MMK_LAYOUT_NO_HOSTED
MMK_L_TYPE(hosted_flush, struct mmk_hosted_flush)
MMK_L_TYPE(hosted_tlbe, struct mmk_hosted_tlbe)
#endif
