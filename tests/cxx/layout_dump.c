/* SPDX-License-Identifier: MIT */
/*
 * The layout of every struct in layout.h as one array of numbers, compiled
 * once as C and once as C++ for each target by cross-layout.sh, which
 * compares the two arrays byte for byte (no need to run target code).
 */
#include <mmkit/aspace.h>
#include <mmkit/backend.h>
#include <mmkit/pager.h>
#include <mmkit/shm.h>
#include <mmkit/kspace.h>
#include <mmkit/syscalls.h>
#include <mmkit/log.h>
#include <mmkit/slab.h>

#ifdef __cplusplus
#define MMK_ALIGNOF(T) alignof(T)
extern "C" {
#else
#define MMK_ALIGNOF(T) _Alignof(T)
#endif

#define MMK_L_TYPE(n, T)     sizeof(T), MMK_ALIGNOF(T),
#define MMK_L_FIELD(n, T, f) offsetof(T, f),
#define MMK_LAYOUT_NO_HOSTED

extern const uint64_t mmk_layout[];
__attribute__((used, section(".mmk_layout"))) const uint64_t mmk_layout[] = {
#include "layout.h"
	0};

#ifdef __cplusplus
}
#endif
