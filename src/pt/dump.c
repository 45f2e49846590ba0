/* SPDX-License-Identifier: MIT */
/*
 * mmkit — page tables: text dumps of a table (runs, and QEMU's `info mem`
 * / `info tlb` formats where the format says it has them), over
 * mmk_pt_walk.
 */
#include <mmkit/log.h>
#include <mmkit/pt.h>

#include "pt/format.h"

struct pt_dump {
	const struct mmk_pt *pt;
	enum mmk_pt_dump_style style;
	mmk_pt_line_fn out;
	void *ctx;
	bool have;
	struct mmk_pt_leaf run;
	uint32_t key; /* what must match to extend the run */
	bool want_pa; /* run needs contiguous physical addresses */
};

/* The `info mem` flavour this table's format has (its descriptor says). */
static enum mmk__qemu_mem pt_mem_style(const struct mmk_pt *pt)
{
	return (enum mmk__qemu_mem)pt->fmt->qemu_mem;
}

static uint32_t pt_dump_key(const struct pt_dump *d,
			    const struct mmk_pt_leaf *lf)
{
	enum mmk__qemu_mem m = pt_mem_style(d->pt);
	if (d->style == MMK_PT_DUMP_QEMU_MEM && m == MMK__QEMU_MEM_X86)
		return lf->flags & (MMK_PT_USER | MMK_PT_WRITE);
	if (d->style == MMK_PT_DUMP_QEMU_MEM && m == MMK__QEMU_MEM_RISCV)
		return lf->flags & (MMK_PT_RWX | MMK_PT_USER | MMK_PT_GLOBAL |
				    MMK_PT_ACCESSED | MMK_PT_DIRTY);
	return lf->flags;
}

static void pt_dump_emit(struct pt_dump *d)
{
	char line[160];
	const struct mmk_pt_leaf *r = &d->run;
	uint32_t f = r->flags;
	bool x86 = pt_mem_style(d->pt) == MMK__QEMU_MEM_X86;
	bool rv = pt_mem_style(d->pt) == MMK__QEMU_MEM_RISCV;
	if (d->style == MMK_PT_DUMP_QEMU_MEM && x86) {
		/* target/i386/monitor.c mem_print: start-end size prot */
		if (!(f & MMK_PT_RWX))
			return; /* not present: QEMU shows nothing */
		mmk_snprintf(line, sizeof(line),
			     "%016llx-%016llx %016llx %c%c%c",
			     (unsigned long long)r->va,
			     (unsigned long long)(r->va + r->size),
			     (unsigned long long)r->size,
			     f & MMK_PT_USER ? 'u' : '-', 'r',
			     f & MMK_PT_WRITE ? 'w' : '-');
	} else if (d->style == MMK_PT_DUMP_QEMU_MEM && rv) {
		/* target/riscv/monitor.c print_pte: va pa size rwxugad */
		if (!(f & MMK_PT_RWX))
			return; /* V=0: QEMU shows nothing */
		mmk_snprintf(line, sizeof(line),
			     "%016llx %016llx %016llx %c%c%c%c%c%c%c",
			     (unsigned long long)r->va,
			     (unsigned long long)r->pa.v,
			     (unsigned long long)r->size,
			     f & MMK_PT_READ ? 'r' : '-',
			     f & MMK_PT_WRITE ? 'w' : '-',
			     f & MMK_PT_EXEC ? 'x' : '-',
			     f & MMK_PT_USER ? 'u' : '-',
			     f & MMK_PT_GLOBAL ? 'g' : '-',
			     f & MMK_PT_ACCESSED ? 'a' : '-',
			     f & MMK_PT_DIRTY ? 'd' : '-');
	} else {
		static const char *const mt[] = {"normal", "device", "uncached",
						 "wc"};
		mmk_snprintf(line, sizeof(line),
			     "%016llx-%016llx %016llx %llx %c%c%c%c%c%c%c %s",
			     (unsigned long long)r->va,
			     (unsigned long long)(r->va + r->size),
			     (unsigned long long)r->pa.v,
			     (unsigned long long)r->page_size,
			     f & MMK_PT_READ ? 'r' : '-',
			     f & MMK_PT_WRITE ? 'w' : '-',
			     f & MMK_PT_EXEC ? 'x' : '-',
			     f & MMK_PT_USER ? 'u' : '-',
			     f & MMK_PT_GLOBAL ? 'g' : '-',
			     f & MMK_PT_ACCESSED ? 'a' : '-',
			     f & MMK_PT_DIRTY ? 'd' : '-',
			     mt[(f & MMK_PT_MT_MASK) >> MMK_PT_MT_SHIFT]);
	}
	d->out(d->ctx, line);
}

static int pt_dump_leaf(void *ctx, const struct mmk_pt_leaf *lf)
{
	struct pt_dump *d = ctx;
	if (d->style == MMK_PT_DUMP_QEMU_TLB) {
		char line[160];
		uint64_t pte = 0;
		if (d->pt->fmt->dump_tlb_line &&
		    d->pt->fmt->ops->raw_entry(
			    d->pt,
			    lf->va & (((uint64_t)1 << d->pt->fmt->va_bits) - 1),
			    lf->level, &pte) == 0 &&
		    d->pt->fmt->dump_tlb_line(d->pt, lf->va, pte, lf->level,
					      line, sizeof(line)) == 0)
			d->out(d->ctx, line);
		return 0;
	}
	uint32_t key = pt_dump_key(d, lf);
	if (d->have && d->key == key && d->run.va + d->run.size == lf->va &&
	    (!d->want_pa || d->run.pa.v + d->run.size == lf->pa.v) &&
	    (d->style != MMK_PT_DUMP_RUNS ||
	     d->run.page_size == lf->page_size)) {
		d->run.size += lf->size;
		return 0;
	}
	if (d->have)
		pt_dump_emit(d);
	d->have = true;
	d->run = *lf;
	d->key = key;
	return 0;
}

int mmk_pt_dump(const struct mmk_pt *pt, mmk_vaddr_t va, uint64_t size,
		enum mmk_pt_dump_style style, mmk_pt_line_fn out, void *ctx)
{
	struct pt_dump d = {.pt = pt, .style = style, .out = out, .ctx = ctx};
	if ((unsigned)style > MMK_PT_DUMP_QEMU_TLB)
		return MMK_EINVAL;
	bool x86 = pt_mem_style(pt) == MMK__QEMU_MEM_X86;
	bool rv = pt_mem_style(pt) == MMK__QEMU_MEM_RISCV;
	if (style == MMK_PT_DUMP_QEMU_MEM && !x86 && !rv)
		d.style = MMK_PT_DUMP_RUNS;
	d.want_pa = !(d.style == MMK_PT_DUMP_QEMU_MEM && x86);
	if (d.style == MMK_PT_DUMP_QEMU_MEM && rv) {
		out(ctx,
		    "vaddr            paddr            size             attr");
		out(ctx, "---------------- ---------------- ---------------- "
			 "-------");
	}
	int r = mmk_pt_walk(pt, va, size, pt_dump_leaf, &d);
	if (r >= 0 && d.have)
		pt_dump_emit(&d);
	return r < 0 ? r : 0;
}
