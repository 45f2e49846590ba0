/* SPDX-License-Identifier: MIT */
/*
 * User processes in the demo kernels, the common part (the seam with each
 * architecture is uproc.h): the process table, the programs (static ELF
 * files built from demo/user/ and embedded in the kernel) loaded with
 * mmkit's ELF loader, the system calls through mmkit's system-call layer
 * (include/mmkit/syscalls.h), user page faults through mmk_sys_fault, and
 * the kernel's side of fork (mmk_aspace_clone), exit, wait and kill.
 *
 *   demo_run_user
 *     kernel space (mmk_kspace_init, no_switch: the kernel runs from the
 *     lower half), every process a space of mmk_kspace_user_create over
 *     [page, DEMO_USER_TOP): the kernel's identity range kernel-only
 *     (demo_map_identity), the program and its stack above DEMO_USER_BASE
 *     -> the first process's root; the UART through its ioremap from now
 *     -> arch_enter_user ... traps: demo_user_trap -> a system call, a
 *        fault, a kill -> schedule -> arch_enter_user of some process
 *     -> none left: every space destroyed, back to the demo's table,
 *        demo_finish(verdict)
 *
 * The kernel stack restarts from its top at every trap from user mode,
 * so demo_main's frame is gone once the first process runs: the user
 * phase ends in demo_finish (kmain.c), not by returning.
 *
 * Policy of the demo kernel, on top of Linux's semantics (mmkit's):
 *   - addresses below DEMO_USER_BASE (the kernel's identity range lies
 *     there, kernel-only) are refused: -EINVAL for munmap, mprotect,
 *     mremap and madvise, -EPERM for mmap with MAP_FIXED (as below
 *     mmap_min_addr); hints below it are ignored (mmap_min_addr);
 *   - W^X: mmap or mprotect asking for PROT_WRITE and PROT_EXEC together
 *     fails with -EACCES (mmkit's system calls allow it, as Linux does;
 *     the loader refuses such segments with MMK_EACCES, the same errno);
 *   - a user fault mmkit cannot resolve kills the process (status
 *     USTATUS_KILLED), with one line: pid, name, access, address, reason,
 *     pc; its parent's wait() sees it;
 *   - a program started by the kernel (not forked) that exits with a
 *     code other than 0 or is killed, or any line written that contains
 *     "FAIL", fails the demo.
 */
#include "uproc.h"
#include "checks.h"
#include "usyscall.h"

#include <stdarg.h>

#include <mmkit/aspace.h>
#include <mmkit/kspace.h>
#include <mmkit/loader.h>
#include <mmkit/syscalls.h>
#include <mmkit/tlb.h>

/* ASID width the demo runs the allocator with (0: off, every space on
 * ASID 0 and a switch flushes); an arch may set it in arch_uctx.h.  8
 * bits: every arch has them (x86_64 only with CR4.PCIDE). */
#ifndef ARCH_ASID_BITS
#define ARCH_ASID_BITS 8
#endif

#ifndef DEMO_USER_BASE
#error "DEMO_USER_BASE / DEMO_USER_TOP come from demo/<arch>/arch.mk"
#endif

/* The programs (demo/Makefile embeds them: user_progs.S). */
struct demo_uprog {
	const char *name;
	const uint8_t *start, *end;
};
extern const struct demo_uprog demo_uprogs[];
extern const uint64_t demo_nuprogs;

#define NPROC 10

enum pstate { P_FREE, P_RUN, P_WAIT, P_ZOMBIE };

struct proc {
	enum pstate state;
	bool has_space; /* as is made (destroyed once a zombie) */
	int pid, ppid;	/* ppid 0: started by the kernel */
	const char *name;
	int status;		      /* wait() status once a zombie */
	uint64_t wait_va;	      /* P_WAIT: where its status goes */
	unsigned long faults;	      /* faults mmkit resolved */
	bool asid_seen;		      /* its ASID is in run.asids */
	uint64_t last_fault, last_pc; /* the previous fault's address, pc */
	unsigned fault_repeats;	      /* times it came again in a row */
	struct {
		uint64_t writes, kwrites, shared, leaves;
		bool overflow; /* more entries than FORK_MAX: undercounted */
	} fork;		       /* the last fork it made */
	struct mmk_sys_mm mm;
	struct arch_uctx ctx;
	struct mmk_aspace as;
};

static struct proc procs[NPROC];
static struct proc *cur;    /* whose registers demo_user_ctx() holds */
static struct proc *loaded; /* whose space is active (root installed) */
static int next_pid = 1;
static uint64_t pg;
static uint64_t uart_va;
static uint64_t free_before; /* frames free before the user phase */

static struct {
	unsigned started, forked, exited, killed, running;
	unsigned nasid;	    /* processes run (each has an ASID) */
	uint32_t asids[32]; /* the ASID each ran with, the first 32 */
	char why[160];	    /* the first failure */
} run;

static void failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void failed(const char *fmt, ...)
{
	if (run.why[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	mmk_vsnprintf(run.why, sizeof(run.why), fmt, ap);
	va_end(ap);
}

struct arch_uctx *demo_user_ctx(void)
{
	return &cur->ctx;
}

static uint64_t frames_free(void)
{
	struct mmk_frame_stats st;
	mmk_frames_stats(&demo_frames, &st);
	return st.free_pages;
}

/* ------------------------------------------------------ processes */

static struct proc *proc_alloc(void)
{
	for (unsigned i = 0; i < NPROC; i++)
		if (procs[i].state == P_FREE && !procs[i].has_space) {
			struct proc *p = &procs[i];
			memset(p, 0, offsetof(struct proc, as));
			p->pid = next_pid++;
			return p;
		}
	return NULL;
}

static int space_create(struct proc *p)
{
	int err = mmk_kspace_user_create(&p->as, pg, DEMO_USER_TOP - pg);
	if (!err)
		p->has_space = true;
	return err;
}

/* Spaces of zombies that are no longer loaded go back at once. */
static void reap_spaces(void)
{
	for (unsigned i = 0; i < NPROC; i++) {
		struct proc *p = &procs[i];
		if (p->has_space && p != loaded &&
		    (p->state == P_ZOMBIE || p->state == P_FREE)) {
			mmk_kspace_user_destroy(&p->as);
			p->has_space = false;
		}
	}
}

static void load_space(struct proc *p)
{
	if (loaded == p)
		return;
	if (loaded)
		mmk_aspace_deactivate(&loaded->as);
	mmk_aspace_activate(&p->as);
	loaded = p;
	if (!uart_va) {
		/* the first user root: the kernel half (and the console's
		 * ioremap in it) is there from now on */
		int err =
			mmk_ioremap(mmk_pa(demo_mmio[0].pa), demo_mmio[0].size,
				    MMK_IO_DEVICE, &uart_va);
		if (err)
			demo_fail("ioremap of %s: %s", demo_mmio[0].name,
				  mmk_strerror(err));
		arch_uart_remap(uart_va);
	}
}

static _Noreturn void finish(void);

/* Run the next runnable process after the current one (round robin). */
static _Noreturn void schedule(void)
{
	unsigned start = cur ? (unsigned)(cur - procs) + 1 : 0;
	for (unsigned k = 0; k < NPROC; k++) {
		struct proc *p = &procs[(start + k) % NPROC];
		if (p->state != P_RUN)
			continue;
		cur = p;
		load_space(p);
		if (!p->asid_seen) {
			p->asid_seen = true;
			if (run.nasid < MMK_ARRAY_SIZE(run.asids))
				run.asids[run.nasid++] =
					(uint32_t)(p->as.tlb.id & 0xffff);
		}
		reap_spaces();
		arch_enter_user(&p->ctx);
	}
	for (unsigned i = 0; i < NPROC; i++)
		if (procs[i].state == P_WAIT)
			failed("pid %d (%s) waits for ever", procs[i].pid,
			       procs[i].name);
	finish();
}

static struct proc *find_pid(int pid)
{
	for (unsigned i = 0; i < NPROC; i++)
		if (procs[i].state != P_FREE && procs[i].pid == pid)
			return &procs[i];
	return NULL;
}

/* @z (a zombie) is waited for by @parent: its status goes to the
 * parent's memory; the slot is free once its space is gone. */
static int64_t reap(struct proc *parent, struct proc *z, uint64_t status_va)
{
	if (status_va) {
		int32_t st = z->status;
		int err = mmk_aspace_write(&parent->as, status_va, &st,
					   sizeof(st));
		if (err)
			return -mmk_sys_errno(err);
	}
	int pid = z->pid;
	z->state = P_FREE;
	return pid;
}

/* @p ends with @status: its children lose their parent, its parent (if
 * it waits) gets it now. */
static void proc_end(struct proc *p, int status)
{
	p->state = P_ZOMBIE;
	p->status = status;
	run.running--;
	for (unsigned i = 0; i < NPROC; i++) {
		struct proc *c = &procs[i];
		if (c->state == P_FREE || c->ppid != p->pid)
			continue;
		c->ppid = -1; /* nobody waits for it any more */
		if (c->state == P_ZOMBIE)
			c->state = P_FREE;
	}
	if (p->ppid == 0) {
		if (!USTATUS_EXITED(status))
			failed("%s (pid %d) was killed", p->name, p->pid);
		else if (USTATUS_CODE(status))
			failed("%s (pid %d) exited with %d", p->name, p->pid,
			       USTATUS_CODE(status));
	}
	struct proc *parent = p->ppid > 0 ? find_pid(p->ppid) : NULL;
	if (p->ppid <= 0) {
		p->state = P_FREE; /* nobody will wait: only the space left */
	} else if (parent && parent->state == P_WAIT) {
		int64_t r = reap(parent, p, parent->wait_va);
		arch_uctx_set_ret(&parent->ctx, (uint64_t)r);
		parent->state = P_RUN;
	}
}

static const char *access_name(enum demo_access a)
{
	switch (a) {
	case DEMO_READ:
		return "read";
	case DEMO_WRITE:
		return "write";
	case DEMO_EXEC:
		return "execute";
	default:
		return "access";
	}
}

static _Noreturn void kill(struct proc *p, const struct demo_fault *f,
			   const char *reason)
{
	demo_printf("user: pid %d (%s) killed: %s at %#llx: %s (%s, pc "
		    "%#llx); the kernel goes on\n",
		    p->pid, p->name, access_name(f->access),
		    (unsigned long long)f->addr, reason, f->what,
		    (unsigned long long)f->pc);
	run.killed++;
	proc_end(p, USTATUS_KILLED);
	schedule();
}

/* ------------------------------------------------------ system calls */

static bool below_user(uint64_t a)
{
	return a < DEMO_USER_BASE;
}

static int64_t sys_write(struct proc *p, uint64_t fd, uint64_t buf,
			 uint64_t len)
{
	if (fd != 1 && fd != 2)
		return -UE_BADF;
	char k[200];
	uint64_t done = 0;
	while (done < len) {
		size_t n = (size_t)MMK_MIN(len - done, sizeof(k) - 1);
		int err = mmk_aspace_read(&p->as, buf + done, k, n);
		if (err)
			return done ? (int64_t)done : -mmk_sys_errno(err);
		k[n] = 0;
		for (size_t i = 0; i + 4 <= n; i++)
			if (!memcmp(k + i, "FAIL", 4))
				failed("%s (pid %d) wrote a FAIL line", p->name,
				       p->pid);
		demo_puts(k);
		done += n;
	}
	return (int64_t)done;
}

static bool wx(uint64_t prot)
{
	return (prot & MMK_SYS_PROT_WRITE) && (prot & MMK_SYS_PROT_EXEC);
}

/*
 * What a fork wrote, entry by entry (USTAT_FORK_*): before the clone
 * every entry of the parent's lower half that is on the path of a leaf
 * (the leaves, the directory entries above them) is recorded raw; after
 * it, those that changed are the parent's writes (leaves that lost WRITE,
 * or the directory entry over a shared leaf table where the format
 * write-protects there), and every entry of the child's lower half is
 * one it wrote, except the leaves inside leaf tables it shares with the
 * parent (one directory entry each).  Split into the user window and the
 * kernel's identity range, which every space maps and fork copies too.
 */
#define FORK_MAX 4096

struct fentry {
	uint64_t va;
	uint64_t raw;
	unsigned level;
};

struct fcount {
	struct mmk_pt *pt;
	bool child;			   /* counting the child's entries */
	unsigned root;			   /* the root's level */
	unsigned shift[MMK_PT_MAX_LEVELS]; /* span of one entry per level */
	uint64_t last[MMK_PT_MAX_LEVELS];  /* last entry index + 1 per level */
	unsigned n;			   /* parent: entries recorded */
	uint64_t writes[2];		   /* child: [kernel, user] */
	uint64_t leaves, shared; /* child: user pages, shared tables */
};

static struct fentry fent[FORK_MAX];

static void fork_note(struct fcount *c, uint64_t va, unsigned k)
{
	if (c->child) {
		c->writes[va >= DEMO_USER_BASE]++;
		return;
	}
	uint64_t raw = 0;
	if (c->n < FORK_MAX && mmk_pt_raw_entry(c->pt, va, k, &raw) == MMK_OK)
		fent[c->n++] = (struct fentry){va, raw, k};
}

static int fork_leaf(void *ctx, const struct mmk_pt_leaf *l)
{
	struct fcount *c = ctx;
	for (uint64_t va = l->va; va < l->va + l->size; va += l->page_size) {
		bool user = va >= DEMO_USER_BASE;
		c->leaves += user && c->child;
		for (unsigned k = l->level; k <= c->root; k++) {
			uint64_t idx = (va >> c->shift[k]) + 1;
			if (c->last[k] == idx)
				continue;
			c->last[k] = idx;
			if (c->child && l->shared && k == l->level)
				continue; /* in the parent's table, not written
					   */
			if (c->child && l->shared && k == l->level + 1)
				c->shared += user;
			fork_note(c, va, k);
		}
	}
	return 0;
}

static void fork_walk(struct fcount *c, struct proc *p, bool child)
{
	struct mmk_pt_info info;
	memset(c, 0, sizeof(*c));
	c->pt = mmk_aspace_pt(&p->as);
	c->child = child;
	mmk_pt_info(c->pt, &info);
	c->root = info.levels - 1;
	/* 8-byte entries: a table of one base page has page / 8 of them */
	for (unsigned k = 0; k < info.levels; k++)
		c->shift[k] = info.page_shift + k * (info.page_shift - 3);
	mmk_pt_walk(c->pt, 0, info.low_end, fork_leaf, c);
}

/* ------------------------------------------------------ QMP pauses */
/*
 * The QMP build (kernel-qmp.elf: demo_qmp_build) on an arch that can read its
 * UART (ARCH_UART_GETC in arch_uctx.h) stops at a few points of the "fork"
 * program with one process's root installed: it prints mmkit's dump of
 * that space in QEMU's `info mem` style between "MMKIT-UDUMP-BEGIN <tag>"
 * and "MMKIT-UDUMP-END <tag>" ("MMKIT-UDUMP <tag> <row>" each), then
 * "MMKIT-PAUSE <tag>", and polls the UART until the harness
 * (tests/qemu/run_demo.py) has asked QEMU for its own `info mem` and sent
 * one byte.  Tags: fork-parent-before, fork-parent-after,
 * fork-child-after.  Where QEMU also has `info tlb` (the arch defines
 * ARCH_QEMU_INFO_TLB: x86_64) the dump comes in that style too, one
 * "MMKIT-UTLB <tag> <row>" per leaf, before the pause line.
 */
#ifdef ARCH_UART_GETC
static void udump_line(void *ctx, const char *line)
{
	demo_printf("MMKIT-UDUMP %s %s\n", (const char *)ctx, line);
}

#ifdef ARCH_QEMU_INFO_TLB
static void utlb_line(void *ctx, const char *line)
{
	demo_printf("MMKIT-UTLB %s %s\n", (const char *)ctx, line);
}
#endif

static void qmp_pause(struct proc *p, const char *tag)
{
	load_space(p);
	struct mmk_pt *pt = mmk_aspace_pt(&p->as);
	struct mmk_pt_info info;
	mmk_pt_info(pt, &info);
	demo_printf("MMKIT-UDUMP-BEGIN %s pid %d\n", tag, p->pid);
	mmk_pt_dump(pt, 0, info.low_end, MMK_PT_DUMP_QEMU_MEM, udump_line,
		    (void *)tag);
	/* the kernel half, up to (not into) the last page */
	if (info.high_start)
		mmk_pt_dump(pt, info.high_start, 0 - info.high_start - pg,
			    MMK_PT_DUMP_QEMU_MEM, udump_line, (void *)tag);
	demo_printf("MMKIT-UDUMP-END %s\n", tag);
#ifdef ARCH_QEMU_INFO_TLB
	/* and in QEMU's `info tlb` style, one row per leaf ("MMKIT-UTLB") */
	mmk_pt_dump(pt, 0, info.low_end, MMK_PT_DUMP_QEMU_TLB, utlb_line,
		    (void *)tag);
	if (info.high_start)
		mmk_pt_dump(pt, info.high_start, 0 - info.high_start - pg,
			    MMK_PT_DUMP_QEMU_TLB, utlb_line, (void *)tag);
#endif
	demo_printf("MMKIT-PAUSE %s\n", tag);
	while (arch_uart_getc() < 0)
		;
}
#define QMP_PAUSE(p, tag, cond)                                                \
	do {                                                                   \
		if (demo_qmp_build && (cond))                                  \
			qmp_pause(p, tag);                                     \
	} while (0)
#else
#define QMP_PAUSE(p, tag, cond) ((void)0)
#endif

/* The layout dump of a space for tools/mmkit-maps (lines under 160
 * bytes); the prefix keeps them out of the transcript check. */
static void maps_line(void *ctx, const char *line)
{
	(void)ctx;
	demo_printf("MMKIT-MAPS %s\n", line);
}

static int64_t sys_fork(struct proc *p)
{
	/* the QMP pauses: at the first fork of the "fork" program */
	static bool paused;
	bool pause = !paused && !memcmp(p->name, "fork", 5) && p->ppid == 0;
	paused |= pause;
	QMP_PAUSE(p, "fork-parent-before", pause);
	struct proc *c = proc_alloc();
	if (!c)
		return -MMK_SYS_EAGAIN;
	int err = space_create(c);
	if (err)
		return -mmk_sys_errno(err);
	struct fcount pc, cc;
	fork_walk(&pc, p, false);
	err = mmk_aspace_clone(&p->as, &c->as);
	if (err) {
		mmk_kspace_user_destroy(&c->as);
		c->has_space = false;
		return -mmk_sys_errno(err);
	}
	fork_walk(&cc, c, true);
	if (pause) /* the picture of a forked process (README) */
		(void)mmk_aspace_dump_layout(&c->as, "fork-child", maps_line,
					     NULL);
	uint64_t pw[2] = {0, 0};
	for (unsigned i = 0; i < pc.n; i++) {
		uint64_t now = 0;
		(void)mmk_pt_raw_entry(pc.pt, fent[i].va, fent[i].level, &now);
		pw[fent[i].va >= DEMO_USER_BASE] += now != fent[i].raw;
	}
	p->fork.writes = pw[1] + cc.writes[1];
	p->fork.kwrites = pw[0] + cc.writes[0];
	p->fork.leaves = cc.leaves;
	p->fork.shared = cc.shared;
	p->fork.overflow = pc.n == FORK_MAX;
	c->name = p->name;
	c->ppid = p->pid;
	c->mm = p->mm;
	c->mm.as = &c->as;
	c->ctx = p->ctx;
	arch_uctx_set_ret(&c->ctx, 0);
	c->state = P_RUN;
	run.forked++;
	run.running++;
	QMP_PAUSE(p, "fork-parent-after", pause);
	QMP_PAUSE(c, "fork-child-after", pause);
	load_space(p);
	return c->pid;
}

/* Returns the result, or does not return (exit, a wait that blocks). */
static int64_t do_syscall(struct proc *p, uint64_t nr, const uint64_t *a)
{
	struct mmk_sys_mm *mm = &p->mm;
	switch (nr) {
	case USYS_WRITE:
		return sys_write(p, a[0], a[1], a[2]);
	case USYS_EXIT:
		run.exited++;
		proc_end(p, (int)((a[0] & 0xff) << 8));
		schedule();
	case USYS_WAIT: {
		bool any = false;
		for (unsigned i = 0; i < NPROC; i++) {
			struct proc *c = &procs[i];
			if (c->state == P_FREE || c->ppid != p->pid)
				continue;
			if (c->state == P_ZOMBIE)
				return reap(p, c, a[0]);
			any = true;
		}
		if (!any)
			return -UE_CHILD;
		p->state = P_WAIT;
		p->wait_va = a[0];
		schedule();
	}
	case USYS_FORK:
		return sys_fork(p);
	case USYS_GETPID:
		return p->pid;
	case USYS_YIELD:
		arch_uctx_set_ret(&p->ctx, 0);
		schedule();
	case USYS_MMAP:
		if (wx(a[2]))
			return -MMK_SYS_EACCES;
		if ((a[3] &
		     (MMK_SYS_MAP_FIXED | MMK_SYS_MAP_FIXED_NOREPLACE)) &&
		    below_user(a[0]))
			return -MMK_SYS_EPERM;
		return mmk_sys_mmap(mm, a[0], a[1], a[2], a[3], (int)a[4],
				    a[5]);
	case USYS_MUNMAP:
		if (below_user(a[0]))
			return -MMK_SYS_EINVAL;
		return mmk_sys_munmap(mm, a[0], a[1]);
	case USYS_MPROTECT:
		if (below_user(a[0]))
			return -MMK_SYS_EINVAL;
		if (wx(a[2]))
			return -MMK_SYS_EACCES;
		return mmk_sys_mprotect(mm, a[0], a[1], a[2]);
	case USYS_MREMAP:
		if (below_user(a[0]) ||
		    ((a[3] & MMK_SYS_MREMAP_FIXED) && below_user(a[4])))
			return -MMK_SYS_EINVAL;
		return mmk_sys_mremap(mm, a[0], a[1], a[2], a[3], a[4]);
	case USYS_BRK:
		return mmk_sys_brk(mm, a[0]);
	case USYS_MADVISE:
		if (below_user(a[0]))
			return -MMK_SYS_EINVAL;
		return mmk_sys_madvise(mm, a[0], a[1], (int64_t)a[2]);
	case USYS_STAT:
		switch (a[0]) {
		case USTAT_FAULTS:
			return (int64_t)p->faults;
		case USTAT_FORK_WRITES:
			return p->fork.overflow ? -MMK_SYS_EOVERFLOW
						: (int64_t)p->fork.writes;
		case USTAT_FORK_KWRITES:
			return p->fork.overflow ? -MMK_SYS_EOVERFLOW
						: (int64_t)p->fork.kwrites;
		case USTAT_FORK_SHARED:
			return (int64_t)p->fork.shared;
		case USTAT_FORK_LEAVES:
			return (int64_t)p->fork.leaves;
		case USTAT_FRAMES_FREE:
			return (int64_t)frames_free();
		case USTAT_KERNEL_VA:
			return (int64_t)(uintptr_t)&run;
		}
		return -MMK_SYS_EINVAL;
	}
	return -UE_NOSYS;
}

_Noreturn void demo_user_trap(enum demo_utrap kind, const struct demo_fault *f)
{
	struct proc *p = cur;
	if (kind == DEMO_UTRAP_SYSCALL) {
		/* it got on: a fault at the same place later is a new one
		 * (a loop that forks writes the same stack slot each time) */
		p->fault_repeats = 0;
		p->last_fault = p->last_pc = 0;
		uint64_t a[6];
		for (unsigned i = 0; i < 6; i++)
			a[i] = arch_uctx_arg(&p->ctx, i);
		int64_t r = do_syscall(p, arch_uctx_sysno(&p->ctx), a);
		arch_uctx_set_ret(&p->ctx, (uint64_t)r);
		arch_enter_user(&p->ctx);
	}
	if (kind == DEMO_UTRAP_OTHER) {
		demo_printf("user: pid %d (%s) killed: %s (cause %#llx) at pc "
			    "%#llx, not a fault mmkit resolves; the kernel "
			    "goes on\n",
			    p->pid, p->name, f->what,
			    (unsigned long long)f->cause,
			    (unsigned long long)f->pc);
		run.killed++;
		proc_end(p, USTATUS_KILLED);
		schedule();
	}
	if (below_user(f->addr) || f->addr >= DEMO_USER_TOP)
		kill(p, f, "kernel memory or outside the user window");
	uint32_t acc = f->access == DEMO_WRITE	? MMK_ACCESS_WRITE
		       : f->access == DEMO_EXEC ? MMK_ACCESS_EXEC
						: MMK_ACCESS_READ;
	int err = mmk_sys_fault(&p->mm, f->addr, acc);
	/* the same fault again and again, each "mapped now": the MMU does
	 * not see what mmkit says (a missing flush); stop, do not spin */
	bool again = f->addr == p->last_fault && f->pc == p->last_pc;
	p->fault_repeats = again ? p->fault_repeats + 1 : 0;
	p->last_fault = f->addr;
	p->last_pc = f->pc;
	if (!err && p->fault_repeats >= 8) {
		failed("pid %d (%s): the fault at %#llx repeats though mmkit "
		       "resolved it",
		       p->pid, p->name, (unsigned long long)f->addr);
		kill(p, f, "the same fault repeats (not flushed?)");
	}
	if (!err) {
		p->faults++;
		arch_enter_user(&p->ctx);
	}
	kill(p, f,
	     err == MMK_EFAULT	 ? "no mapping there (mmk_sys_fault: EFAULT)"
	     : err == MMK_EACCES ? "the mapping does not allow it "
				   "(mmk_sys_fault: EACCES)"
				 : mmk_strerror(err));
}

/* ------------------------------------------------------ the phase */

static const char *kspace_up(void)
{
	int err = demo_kspace_init();
	if (err) {
		failed("demo_kspace_init: %s", mmk_strerror(err));
		return run.why;
	}
	pg = mmk_kspace()->page_size;
	return NULL;
}

/* Distinct non-zero ASIDs the processes ran with. */
static unsigned distinct_asids(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < run.nasid; i++) {
		bool seen = run.asids[i] == 0;
		for (unsigned j = 0; j < i && !seen; j++)
			seen = run.asids[j] == run.asids[i];
		n += !seen;
	}
	return n;
}

static struct mmk_loader_result loaded_res[NPROC];

static const char *start_program(const struct demo_uprog *u)
{
	struct proc *p = proc_alloc();
	if (!p)
		return "process table full";
	p->name = u->name;
	int err = space_create(p);
	if (!err)
		err = demo_map_identity(&p->as, pg);
	struct mmk_loader_result res;
	if (!err) {
		const char *argv[] = {u->name};
		struct mmk_loader_source src = {
			.data = u->start,
			.size = (uint64_t)(u->end - u->start),
		};
		struct mmk_loader_args args = {
			.argv = argv,
			.argc = 1,
			.stack_size = 64 * MMK_KIB,
			.guard_size = 64 * MMK_KIB,
		};
		err = mmk_loader_load(&p->as, &src, &args, &res);
	}
	if (err) {
		failed("loading %s: %s", u->name, mmk_strerror(err));
		return run.why;
	}
	mmk_sys_mm_init(&p->mm, &p->as);
	p->mm.task_size = DEMO_USER_TOP;
	p->mm.mmap_min_addr = DEMO_USER_BASE;
	p->mm.unmapped_base = MMK_ALIGN_UP(res.brk + 256 * MMK_MIB, pg);
	p->mm.mmap_base = MMK_ALIGN_DOWN(res.stack_lo - 16 * MMK_MIB, pg);
	p->mm.start_brk = p->mm.brk = res.brk;
	arch_uctx_init(&p->ctx, res.entry, res.sp);
	loaded_res[p - procs] = res;
	p->state = P_RUN;
	run.started++;
	run.running++;
	return NULL;
}

static struct mmk_pt *demo_kpt;

const char *demo_run_user(void)
{
	free_before = frames_free();
	demo_kpt = demo_kernel_pt();
	const char *r = kspace_up();
	if (r)
		return r;
	if (ARCH_ASID_BITS && !mmk_tlb_asid_bits()) {
		int err = mmk_tlb_asid_init(ARCH_ASID_BITS, 1);
		if (err) {
			failed("mmk_tlb_asid_init: %s", mmk_strerror(err));
			return run.why;
		}
	}
	arch_user_init();
	for (uint64_t i = 0; i < demo_nuprogs; i++)
		if ((r = start_program(&demo_uprogs[i])))
			return r;
	/* the first root: the UART through its ioremap from here on */
	load_space(&procs[0]);
	demo_printf("user: kernel space up (mmk_kspace_init), %s "
		    "ioremapped at %#llx; each program in its own space "
		    "(mmk_kspace_user_create), loaded by mmk_loader_load:\n",
		    demo_mmio[0].name, (unsigned long long)uart_va);
	for (unsigned i = 0; i < NPROC; i++) {
		const struct mmk_loader_result *l = &loaded_res[i];
		if (procs[i].state != P_RUN)
			continue;
		demo_printf("user: %s: pid %d, %u segments %#llx-%#llx, entry "
			    "%#llx, stack %#llx-%#llx, break %#llx\n",
			    procs[i].name, procs[i].pid, l->nsegments,
			    (unsigned long long)l->image_lo,
			    (unsigned long long)l->image_hi,
			    (unsigned long long)l->entry,
			    (unsigned long long)l->stack_lo,
			    (unsigned long long)l->stack_hi,
			    (unsigned long long)l->brk);
	}
	cur = NULL;
	schedule();
}

static _Noreturn void finish(void)
{
	/* back on the demo's own table, every process space gone */
	mmk_pt_activate(demo_kpt, 0);
	if (loaded)
		mmk_aspace_deactivate(&loaded->as);
	loaded = NULL;
	arch_uart_remap(0);
	reap_spaces();
	mmk_iounmap(uart_va);
	mmk_kspace_destroy();
	uint64_t after = frames_free();
	if (!run.why[0] && after != free_before)
		failed("%lld frames not given back after the user phase",
		       (long long)(free_before - after));
	unsigned nasid = distinct_asids(), nproc = run.started + run.forked;
	if (!run.why[0] && ARCH_ASID_BITS != 0 && nasid != nproc)
		failed("%u processes ran on %u distinct ASIDs", nproc, nasid);
	char asids[48];
	if (ARCH_ASID_BITS)
		mmk_snprintf(asids, sizeof(asids), "%u distinct ASIDs", nasid);
	else
		mmk_snprintf(asids, sizeof(asids), "ASID 0 (switches flush)");
	if (!run.why[0])
		demo_printf("user: ok - %u programs, %u forks, %u exits, %u "
			    "killed as expected; %u processes on %s; every "
			    "space destroyed, all %llu frames back\n",
			    run.started, run.forked, run.exited, run.killed,
			    nproc, asids, (unsigned long long)free_before);
	demo_finish(run.why[0] ? run.why : NULL);
}
