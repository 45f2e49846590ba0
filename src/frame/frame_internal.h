/* SPDX-License-Identifier: MIT */
/* Shared between the files of the frame layer; not a public interface. */
#ifndef MMKIT_FRAME_INTERNAL_H
#define MMKIT_FRAME_INTERNAL_H

#include <mmkit/frame.h>

/*
 * Undo the last mmk_bootmem_alloc(@bm, @size, ...) that returned @pa, so
 * that @bm is exactly as before it (mmk_frames_init's rollback).  Allocations
 * are undone in the reverse order they were made; each then removes what
 * its allocation added, and never needs a table slot.
 */
void mmk__bootmem_unalloc(struct mmk_bootmem *bm, mmk_paddr_t pa,
			  uint64_t size);

#endif /* MMKIT_FRAME_INTERNAL_H */
