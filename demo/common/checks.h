/* SPDX-License-Identifier: MIT */
/* The checks on the MMU (checks.c) and the trap state they share. */
#ifndef MMKIT_DEMO_CHECKS_H
#define MMKIT_DEMO_CHECKS_H

#include "demo.h"

struct demo_trap_state {
	volatile unsigned long faults; /* every trap taken */
	struct demo_fault last;	       /* the most recent one */
	/* Expected fetch fault at this address: return to the caller. */
	volatile uint64_t exec_target;
	/* Demand paging: true when it handled the fault (retry it). */
	bool (*lazy_handler)(const struct demo_fault *f);
};

extern struct demo_trap_state demo_ts;
extern struct mmk_bootmem demo_bootmem; /* RAM ranges stay readable */

/** Build the page table, switch to it, run every check.  NULL if all pass. */
const char *demo_run_checks(void);

/** The demo's own page table (built by demo_run_checks). */
struct mmk_pt *demo_kernel_pt(void);

/** QMP build: print mmkit's view of the live page table for the harness. */
void demo_qmp_dump(void);

#endif
