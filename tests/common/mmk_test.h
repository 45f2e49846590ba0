/* SPDX-License-Identifier: MIT */
/* Shared helpers for mmkit's cmocka tests. */
#ifndef MMK_TEST_H
#define MMK_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <mmk_hosted.h>
#include <mmkit/frame.h>

/* A small deterministic PRNG (xorshift64*), seeded per test. */
static inline uint64_t mmk_test_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* Seed from $MMK_SEED when set, so a failure can be replayed. */
static inline uint64_t mmk_test_seed(uint64_t dflt)
{
	const char *e = getenv("MMK_SEED");
	return e ? (uint64_t)strtoull(e, NULL, 0) : dflt;
}

#endif
