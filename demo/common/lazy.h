/* SPDX-License-Identifier: MIT */
/* The lazily allocated kernel area check (lazy.c). */
#ifndef MMKIT_DEMO_LAZY_H
#define MMKIT_DEMO_LAZY_H

#include "checks.h"

/**
 * A kernel area backed by mmkit's lazy "alloc" backend: first touch of each
 * page takes exactly one fault that mmk's page-fault handler resolves, the
 * access is retried and succeeds, a second touch takes none.  Prints its
 * transcript line ("check lazy: ok - ..." or, while the address-space layer
 * is not in the tree, "check lazy: pending (needs aspace)").  NULL unless
 * it failed.
 */
const char *demo_check_lazy(struct mmk_pt *kpt, uint64_t page_size);

#endif
