/* SPDX-License-Identifier: MIT */
/*
 * mmkit — basic types shared by every layer: addresses, sizes, error codes.
 *
 * Physical addresses are a one-member struct so that handing a physical
 * address where a virtual one is expected (or the reverse) is a compile
 * error, not a crash at boot.  Virtual addresses of a managed space are plain
 * 64-bit integers (mmk_vaddr_t): they belong to the space being described,
 * which on the host may be another architecture's, so they are never
 * dereferenced directly; memory the kernel itself touches is a `void *`.
 */
#ifndef MMKIT_TYPES_H
#define MMKIT_TYPES_H

#include <mmkit/config.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A physical address.  Build with mmk_pa(), read with .v. */
typedef struct {
	uint64_t v;
} mmk_paddr_t;

/** A virtual address in some address space (not necessarily this CPU's). */
typedef uint64_t mmk_vaddr_t;

static inline mmk_paddr_t mmk_pa(uint64_t v)
{
	mmk_paddr_t p = {v};
	return p;
}

static inline mmk_paddr_t mmk_pa_add(mmk_paddr_t p, uint64_t off)
{
	return mmk_pa(p.v + off);
}

#define MMK_PAGE_SHIFT 12
#define MMK_PAGE_SIZE  ((uint64_t)1 << MMK_PAGE_SHIFT)

#define MMK_KIB ((uint64_t)1 << 10)
#define MMK_MIB ((uint64_t)1 << 20)
#define MMK_GIB ((uint64_t)1 << 30)

#define MMK_IS_POW2(x)	     ((x) != 0 && (((x) & ((x)-1)) == 0))
#define MMK_IS_ALIGNED(x, a) (((x) & ((uint64_t)(a)-1)) == 0)
#define MMK_ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a)-1))
#define MMK_ALIGN_UP(x, a)   (((x) + ((uint64_t)(a)-1)) & ~((uint64_t)(a)-1))
#define MMK_ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))
#define MMK_MIN(a, b)	     ((a) < (b) ? (a) : (b))
#define MMK_MAX(a, b)	     ((a) > (b) ? (a) : (b))

#define MMK_LIKELY(x)	__builtin_expect(!!(x), 1)
#define MMK_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* What C11 and C++ spell differently, for the headers both read. */
#ifdef __cplusplus
#define MMK_NORETURN		  [[noreturn]]
#define MMK_STATIC_ASSERT(c, msg) static_assert(c, msg)
#else
#define MMK_NORETURN		  _Noreturn
#define MMK_STATIC_ASSERT(c, msg) _Static_assert(c, msg)
#endif

/*
 * Error codes: one enum for every layer, negative values, 0 is success.
 * Each names one cause so that a caller (and a test) can tell them apart.
 */
enum mmk_err {
	MMK_OK = 0,
	MMK_ENOMEM = -1,    /* out of memory (frames or metadata) */
	MMK_EINVAL = -2,    /* malformed argument not covered below */
	MMK_EALIGN = -3,    /* address or size not aligned as required */
	MMK_ERANGE = -4,    /* outside the space / allocator / format */
	MMK_EWRAP = -5,	    /* size zero, or start + size wraps */
	MMK_ENONCANON = -6, /* virtual address not canonical for the format */
	MMK_EEXIST = -7,    /* already mapped / overlapping area */
	MMK_ENOENT = -8,    /* not mapped / no such area */
	MMK_ENOTSUP = -9,   /* flag combination the format cannot express */
	MMK_EFAULT = -10,   /* access to unmapped or forbidden memory */
	MMK_EDOUBLEFREE = -11, /* freeing something already free */
	MMK_EBADFREE = -12,    /* freeing an address never handed out */
	MMK_EREFCOUNT = -13,   /* a reference count would leave its range */
	MMK_EBUSY = -14,  /* resource in use (e.g. destroy with live objects) */
	MMK_EACCES = -15, /* access not permitted by the area */
	MMK_EAGAIN = -16, /* lost a race (the entry changed): read again */
	MMK_ERR_COUNT_ = 17
};

/**
 * A short message for an error code ("out of memory"), never NULL; "success"
 * for MMK_OK and any non-negative result, "unknown error" for a negative
 * value that is no code.
 */
const char *mmk_strerror(int err);

/**
 * The code's name ("MMK_ENOMEM"), never NULL: "MMK_OK" for 0, "MMK_E?" for
 * a value that is no code (a positive result is not one).
 */
const char *mmk_strerror_name(int err);

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_TYPES_H */
