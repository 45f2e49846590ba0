/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the generic page-table engine, as a template.
 *
 * A format's .c file defines the encoding hooks listed in pt/format.h,
 * defines MMK_ENGINE_OPS to the name of the ops table to produce, and
 * includes this file once.  Everything here is static: each format gets its
 * own copy of the engine with the hooks inlined into the loops.
 *
 * Shape of every operation (see include/mmkit/pt.h for the contracts):
 *
 *   prepare   read-only descent: check for conflicts, count the table pages
 *             the commit will need (new tables, splits of huge pages),
 *             allocate them all into a private pool.  May fail; nothing is
 *             visible yet.
 *   commit    one descent per table touched, never one per page; a tight
 *             loop per leaf table.  Takes tables from the pool, cannot
 *             fail.  New tables are filled before they are hooked in, so a
 *             concurrent walker (hardware or a single-page map) never sees
 *             a half-built table.
 *
 * Addresses here are index addresses (the low va_bits bits of a canonical
 * address); a slot step is `(a | (span - 1)) + 1`, which cannot wrap since
 * va_bits < 64.
 */
#ifndef MMK_ENGINE_OPS
#error "define MMK_ENGINE_OPS (the ops table name) before including pt/engine.h"
#endif

#include "pt/format.h"
#include "pt/engine/core.h"
#include "pt/engine/share.h"
#include "pt/engine/single.h"
#include "pt/engine/region.h"
#include "pt/engine/walk.h"
#include "pt/engine/clone.h"
#include "pt/engine/fast.h"
#include "pt/engine/move.h"

static const struct mmk__pt_ops MMK_ENGINE_OPS = {
	.map = eng_map,
	.map_private = eng_map_private,
	.reserve_fault = eng_reserve_fault,
	.unmap = eng_unmap,
	.protect = eng_protect,
	.map_region = eng_map_region,
	.unmap_region = eng_unmap_region,
	.protect_region = eng_protect_region,
	.map_reserve = eng_map_reserve,
	.map_reserved = eng_map_reserved,
	.reserve_cut = eng_reserve_cut,
	.cut = eng_cut,
	.resv_release = eng_resv_release,
	.move_reserve = eng_move_reserve,
	.move_tables = eng_move_tables,
	.replace = eng_replace_leaf,
	.replace_private = eng_replace_private,
	.walk = eng_walk,
	.count_tables = eng_count_tables,
	.free_tables = eng_free_tables,
	.encode_leaf = eng_encode_leaf,
	.decode_leaf = eng_decode_leaf,
	.raw_entry = eng_raw_entry,
	.clone_range = eng_clone_range,
	.unshare = eng_unshare,
	.reap = eng_reap,
	.init_table = eng_init_table,
	.empty = eng_empty,
};
