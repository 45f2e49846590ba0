/* SPDX-License-Identifier: MIT */
/*
 * The differential harness: the same calls on the host's Linux kernel (in
 * a child process, inside a window of its address space) and on an mmkit
 * space covering a window of the same size at the same addresses.  Shared
 * by the differential test (test_sys_diff.c) and the benchmark-free fuzzer
 * (it uses the model half only).
 */
#ifndef SYS_DIFF_H
#define SYS_DIFF_H

#include <stdint.h>

#define SD_PG	4096ull
#define SD_WP	64 /* window pages */
#define SD_WS	(SD_WP * SD_PG)
#define SD_PAD	(1024 * SD_PG)	  /* kept free around the window */
#define SD_TASK 0x7ffffffff000ull /* x86_64's TASK_SIZE */

enum sd_op {
	SD_MMAP,
	SD_MUNMAP,
	SD_MPROTECT,
	SD_MREMAP,
	SD_MADVISE,
	SD_MLOCK,
	SD_MLOCK2,
	SD_MUNLOCK,
	SD_MINCORE,
	SD_MSYNC,
	SD_WRITE,      /* a user store: a[0] address, a[1] length, a[2] byte */
	SD_READ,       /* a user load */
	SD_FORK,       /* a forked child's store (as SD_WRITE), then it exits */
	SD_MLOCKALL,   /* mlockall(a[0]) */
	SD_MUNLOCKALL, /* munlockall() */
	SD_NOPS,
	SD_QUIT = 100,
};

struct sd_call {
	uint32_t op;
	uint32_t attrs; /* the state after it reads the areas' VmFlags */
	uint64_t a[6];
};

struct sd_line {
	uint64_t s, e;
	char perm[4];
	uint32_t attrs; /* SD_VM_*: the vm_flags the areas carry */
};

/* The VmFlags of /proc/PID/smaps that mmkit keeps as area attributes. */
#define SD_VM_LOCKED	0x01 /* lo */
#define SD_VM_DONTCOPY	0x02 /* dc */
#define SD_VM_GROWSDOWN 0x04 /* gd */
#define SD_VM_NORESERVE 0x08 /* nr */
#define SD_VM_ACCOUNT	0x10 /* ac */
/* VM_ACCOUNT is not compared: Linux drops it from an area made read-only
 * that never had a page written (no anon_vma), which mmkit does not track;
 * mmkit keeps it (the charge stays, a kernel's accounting over-counts). */
#define SD_VM_COMPARED                                                         \
	(SD_VM_LOCKED | SD_VM_DONTCOPY | SD_VM_GROWSDOWN | SD_VM_NORESERVE)

/* What one side looks like after a call. */
struct sd_state {
	int64_t ret;	      /* result, or -errno */
	uint32_t outside;     /* Linux placed it outside the window (undone) */
	uint32_t attrs_valid; /* lines[].attrs were read (smaps) */
	uint32_t nlines;
	uint64_t locked_vm; /* Linux: VmLck of /proc/self/status, bytes */
	struct sd_line lines[SD_WP + 2];
	uint8_t res[SD_WP];
	uint64_t hash[SD_WP];
};

static inline uint64_t sd_hash(const void *p, uint64_t n)
{
	const uint64_t *w = p;
	uint64_t h = 0x9e3779b97f4a7c15ull;
	for (uint64_t i = 0; i < n / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ull + (h >> 29);
	return h;
}

static const char *const sd_names[] = {
	"mmap",	 "munmap", "mprotect", "mremap",   "madvise",
	"mlock", "mlock2", "munlock",  "mincore",  "msync",
	"write", "read",   "fork",     "mlockall", "munlockall",
};

#endif
