/* SPDX-License-Identifier: MIT */
/*
 * The model-based randomized test: random operations on small spaces,
 * each checked against an oracle that knows, per page, its area kind,
 * flags, whether and how it is mapped and what it holds.  Run for every
 * page-table format compiled in, twice:
 *
 *   one space   100,000 operations (MMK_MODEL_OPS), a full check every
 *               CHECK_EVERY operations;
 *   fork        NSPACES spaces with clone (mmk_aspace_clone) and
 *               destroy among the operations, MMK_MODEL_FORK_OPS (3,000)
 *               of them, every page of every space checked after every
 *               one.
 *
 *   BASE                                                 BASE + NPAGES pages
 *   |  alloc (lazy or populated) | linear -> pool | hole | ... |
 *
 *   pool: POOL contiguous frames the test owns; linear areas map parts of
 *   it (two areas, or two spaces, may alias one pool page, so the oracle
 *   keeps linear contents per pool page).  alloc pages map model frames:
 *   the zero page (ZERO, read-only, never written), or a frame with the
 *   number of leaves mapping it (copy-on-write after a fork shares them).
 *
 * Checked after every operation: its result; every byte read; the TLB
 * flush record (unmap/protect flush exactly the mapped pages that lost a
 * permission; adding mappings flushes nothing; a copy-on-write copy
 * flushes its page; a fork flushes its parent once if a page lost WRITE,
 * never the child).  At every full check: every page's translation,
 * flags, physical address (pages of one model frame share one, with that
 * frame's reference count) and contents, and the memory set's
 * invariants.  At the end, destroying the spaces brings the live frame
 * and object counts back.
 *
 * MMK_SEED replays a run.  On a failure (every fail_msg) each space is
 * drawn first, with its layout dump and tools/maps, into
 * model-failure-<format>-<space>.svg in $MMK_MODEL_SVG_DIR (default: the
 * working directory, build/tests/aspace under ctest); MMK_MODEL_DRAW=1
 * draws them at the end of every run too.
 */
#include "aspace_test.h"

#include <mmkit/backend.h>

#include "maps/maps.h"

static void model_picture(const char *why);
/* cmocka's fail_msg, the spaces drawn first */
#undef fail_msg
#define fail_msg(msg, ...)                                                     \
	do {                                                                   \
		model_picture("failure");                                      \
		print_error("ERROR: " msg "\n", ##__VA_ARGS__);                \
		fail();                                                        \
	} while (0)

#define BASE	    0x40000000ull
#define NPAGES	    160
#define POOL	    32
#define MAXLEN	    8
#define CHECK_EVERY 512
#define NSPACES	    4
#define MAXFR	    (NSPACES * NPAGES + 1)
#define ZERO	    0 /* model frame 0: the zero page */

enum kind { K_NONE, K_ALLOC, K_LINEAR };

struct mpage {
	uint8_t kind;
	bool present;
	uint32_t flags;	 /* the area's */
	uint32_t lflags; /* the leaf's (present pages) */
	unsigned li;	 /* pool page (linear) */
	unsigned fid;	 /* model frame (present alloc pages) */
};

struct mspace {
	struct mmk_aspace as;
	struct mpage pg[NPAGES];
};

struct mframe {
	int nref;	  /* leaves mapping it; 0 = free slot */
	mmk_paddr_t seen; /* pa found by the current check (0: not yet) */
};

struct model {
	struct mspace sp[NSPACES];
	unsigned nsp;
	struct mmk_aspace *as; /* the space of the current operation */
	struct mpage *pg;      /* its pages */
	unsigned cur;
	struct mmk_frames *fa;
	uint64_t ps;
	struct mframe fr[MAXFR];
	uint8_t *fmem; /* model frame contents, MAXFR pages */
	uint8_t *pmem; /* pool contents, POOL pages */
	mmk_paddr_t pool;
	uint32_t flags[16];
	unsigned nflags;
	uint64_t rng;
	long ops[11];
};

static char cur_op[128];
/* This operation runs with an allocation failure injected: MMK_ENOMEM is
 * then a valid answer, and means "nothing changed" (checked in full). */
static bool injecting, injected_fail;

/* True (and noted) if @got is an injected failure the model must ignore. */
static bool injected_enomem(int got)
{
	if (injecting && got == MMK_ENOMEM) {
		injected_fail = true;
		return true;
	}
	return false;
}

static uint64_t rnd(struct model *m, uint64_t n)
{
	return mmk_test_rand(&m->rng) % n;
}

static mmk_vaddr_t va_of(struct model *m, unsigned p)
{
	return BASE + p * m->ps;
}

static void use_space(struct model *m, unsigned s)
{
	m->cur = s;
	m->as = &m->sp[s].as;
	m->pg = m->sp[s].pg;
}

/* ------------------------------------------------------ model frames */

static uint8_t *frame_data(struct model *m, unsigned fid)
{
	return m->fmem + fid * m->ps;
}

static unsigned frame_new(struct model *m)
{
	for (unsigned f = 1; f < MAXFR; f++)
		if (m->fr[f].nref == 0) {
			m->fr[f].nref = 1;
			memset(frame_data(m, f), 0, m->ps);
			return f;
		}
	fail_msg("model frames exhausted");
	return 0;
}

static void frame_put(struct model *m, unsigned fid)
{
	if (fid != ZERO)
		m->fr[fid].nref--;
}

static uint8_t *content(struct model *m, const struct mpage *q)
{
	return q->kind == K_LINEAR ? m->pmem + q->li * m->ps
				   : frame_data(m, q->fid);
}

static bool is_mapped(const struct mpage *q)
{
	return q->kind == K_LINEAR || (q->kind == K_ALLOC && q->present);
}

/* The page flags of protection @f on this format. */
static uint32_t fit(struct model *m, uint32_t f)
{
	return mmk_backend_page_flags(m->as, f);
}

/* Drop page @q's mapping from the model. */
static void page_gone(struct model *m, struct mpage *q)
{
	if (q->kind == K_ALLOC && q->present)
		frame_put(m, q->fid);
	*q = (struct mpage){K_NONE, false, 0, 0, 0, 0};
}

/* -------------------------------------------------------------- checks */

static void check_page(struct model *m, struct mmk_aspace *as,
		       const struct mpage *q, unsigned p)
{
	mmk_paddr_t pa;
	uint32_t fl;
	int err = mmk_pt_query(mmk_aspace_pt(as), va_of(m, p), &pa, &fl, NULL);
	if (!is_mapped(q)) {
		if (err != MMK_ENOENT)
			fail_msg("page %u: mapped, model says not (kind %d)", p,
				 q->kind);
		return;
	}
	if (err)
		fail_msg("page %u: not mapped (%s), model says kind %d", p,
			 mmk_strerror(err), q->kind);
	if ((fl & ~(MMK_PT_ACCESSED | MMK_PT_DIRTY)) != q->lflags)
		fail_msg("page %u: flags %#x, model %#x (area %#x)", p, fl,
			 q->lflags, q->flags);
	if (q->kind == K_LINEAR) {
		if (pa.v != m->pool.v + q->li * m->ps)
			fail_msg("page %u: pa %#llx, model pool page %u", p,
				 (unsigned long long)pa.v, q->li);
	} else if (q->fid != ZERO) {
		/* one model frame, one physical frame, its count */
		struct mframe *f = &m->fr[q->fid];
		if (!f->seen.v)
			f->seen = pa;
		if (f->seen.v != pa.v)
			fail_msg("page %u: pa %#llx, its frame is at %#llx", p,
				 (unsigned long long)pa.v,
				 (unsigned long long)f->seen.v);
		if (mmk_frame_refcount(m->fa, pa) != f->nref)
			fail_msg("page %u: count %lld, model %d", p,
				 (long long)mmk_frame_refcount(m->fa, pa),
				 f->nref);
	}
	/* the frame holds exactly what the model says */
	if (memcmp(mmk_phys_to_virt(pa), content(m, q), m->ps) != 0)
		fail_msg("page %u: contents differ", p);
}

static void check_all(struct model *m)
{
	for (unsigned f = 0; f < MAXFR; f++)
		m->fr[f].seen.v = 0;
	for (unsigned s = 0; s < m->nsp; s++) {
		for (unsigned p = 0; p < NPAGES; p++)
			check_page(m, &m->sp[s].as, &m->sp[s].pg[p], p);
		assert_int_equal(mmk_mset_check(&m->sp[s].as.areas), 0);
	}
	/* distinct model frames are distinct frames */
	for (unsigned a = 1; a < MAXFR; a++)
		for (unsigned b = a + 1; b < MAXFR && m->fr[a].seen.v; b++)
			if (m->fr[b].seen.v == m->fr[a].seen.v)
				fail_msg("model frames %u and %u share %#llx",
					 a, b,
					 (unsigned long long)m->fr[a].seen.v);
}

/*
 * USER counts both ways: a page that becomes user-accessible is lost to
 * the kernel where SMAP/SMEP (x86_64), SUM (riscv64) or PAN (aarch64)
 * keep the kernel out of user pages.
 */
static bool lost_permission(uint32_t old, uint32_t new)
{
	return (old & ~new &MMK_PT_RWX) ||
	       ((old ^ new) & (MMK_PT_USER | MMK_PT_MT_MASK | MMK_PT_GLOBAL));
}

static const char *mmk_pt_info_name(struct mmk_aspace *as)
{
	struct mmk_pt_info i;
	mmk_pt_info(mmk_aspace_pt(as), &i);
	return i.name;
}

/* expect[p]: page p must have been flushed; nothing else may be. */
static void check_flushes(struct model *m, const bool *expect)
{
	bool any = false;
	for (unsigned p = 0; p < NPAGES; p++) {
		if (!expect[p])
			continue;
		any = true;
		if (!mmk_hosted_flushed(va_of(m, p)))
			fail_msg("page %u lost a permission, not flushed", p);
	}
	size_t n = mmk_hosted_flush_count();
	if (!any && n) {
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(0, &f);
		fail_msg("%s: %s: %zu flushes (kind %d %#llx-%#llx), nothing "
			 "lost a permission",
			 mmk_pt_info_name(m->as), cur_op, n, f.kind,
			 (unsigned long long)f.start,
			 (unsigned long long)f.end);
	}
	for (size_t i = 0; i < n; i++) {
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(i, &f);
		if (f.asid != m->as->asid)
			fail_msg("%s: flush of another space (asid %u)", cur_op,
				 f.asid);
		if (f.kind != MMK_HOSTED_FLUSH_RANGE)
			continue;
		for (mmk_vaddr_t va = f.start; va < f.end; va += m->ps) {
			uint64_t p = (va - BASE) / m->ps;
			if (va < BASE || p >= NPAGES || !expect[p])
				fail_msg("flush of page %#llx not needed",
					 (unsigned long long)va);
		}
	}
}

/* Adding mappings flushes nothing, except the pages in @copied (a
 * copy-on-write copy replaces a mapped page). */
static void check_no_flush_but(struct model *m, const bool *copied)
{
	if (m->as->map_flushes)
		return;
	bool any = false;
	for (unsigned p = 0; p < NPAGES && copied; p++)
		any |= copied[p];
	if (!any) {
		if (mmk_hosted_flush_count() != 0)
			fail_msg("adding mappings flushed");
		return;
	}
	check_flushes(m, copied);
}

static void check_no_flush(struct model *m)
{
	check_no_flush_but(m, NULL);
}

/* ------------------------------------------------------ model faults */

/*
 * What a fault for @acc (allowed by the area) does to page @p in the
 * model; sets copied[p] when a mapped page is replaced by a copy.
 */
static void model_fault(struct model *m, unsigned p, uint32_t acc, bool *copied)
{
	struct mpage *q = &m->pg[p];
	if (q->kind != K_ALLOC)
		return;
	if (!q->present) {
		uint32_t ro = q->flags & ~(uint32_t)MMK_PT_WRITE;
		q->present = true;
		if (!(acc & MMK_PT_WRITE) &&
		    (fit(m, ro) & MMK_PT_RWX & acc) == acc) {
			q->fid = ZERO;
			q->lflags = fit(m, ro);
		} else {
			q->fid = frame_new(m);
			q->lflags = q->flags;
		}
		return;
	}
	if ((q->lflags & acc) == acc || !(acc & MMK_PT_WRITE))
		return;
	/* copy-on-write: take over a frame mapped once, copy otherwise */
	if (q->fid == ZERO || m->fr[q->fid].nref > 1) {
		unsigned f = frame_new(m);
		memcpy(frame_data(m, f), frame_data(m, q->fid), m->ps);
		frame_put(m, q->fid);
		q->fid = f;
		if (copied)
			copied[p] = true;
	}
	q->lflags = q->flags;
}

/* ----------------------------------------------------------- operations */

static void pick_range(struct model *m, unsigned *p, unsigned *n)
{
	*p = (unsigned)rnd(m, NPAGES);
	unsigned max = MMK_MIN(MAXLEN, NPAGES - *p);
	*n = 1 + (unsigned)rnd(m, max);
}

static bool range_free(struct model *m, unsigned p, unsigned n)
{
	for (unsigned i = p; i < p + n; i++)
		if (m->pg[i].kind != K_NONE)
			return false;
	return true;
}

static void op_map(struct model *m)
{
	unsigned p, n;
	pick_range(m, &p, &n);
	uint32_t fl = m->flags[rnd(m, m->nflags)];
	bool linear = rnd(m, 3) == 0;
	bool populate = rnd(m, 2);
	unsigned li = (unsigned)rnd(m, POOL - n + 1);
	int want = range_free(m, p, n) ? 0 : MMK_EEXIST;
	int got = linear ? mmk_aspace_map_linear(m->as, va_of(m, p),
						 mmk_pa(m->pool.v + li * m->ps),
						 n * m->ps, fl)
			 : mmk_aspace_map_alloc(m->as, va_of(m, p), n * m->ps,
						fl, populate);
	if (injected_enomem(got))
		return;
	if (got != want)
		fail_msg("map %s p %u n %u: %s, want %s",
			 linear ? "linear" : "alloc", p, n, mmk_strerror(got),
			 mmk_strerror(want));
	check_no_flush(m);
	if (got)
		return;
	for (unsigned i = 0; i < n; i++) {
		struct mpage *q = &m->pg[p + i];
		q->kind = linear ? K_LINEAR : K_ALLOC;
		q->flags = q->lflags = fl;
		q->present = linear || populate;
		q->li = li + i;
		if (!linear && populate)
			q->fid = frame_new(m);
	}
}

static void op_unmap(struct model *m)
{
	unsigned p, n;
	pick_range(m, &p, &n);
	bool expect[NPAGES] = {0};
	for (unsigned i = p; i < p + n; i++)
		expect[i] = is_mapped(&m->pg[i]);
	snprintf(cur_op, sizeof(cur_op), "unmap p %u n %u", p, n);
	int got = mmk_aspace_unmap(m->as, va_of(m, p), n * m->ps);
	if (injected_enomem(got))
		return;
	if (got)
		fail_msg("unmap p %u n %u: %s", p, n, mmk_strerror(got));
	check_flushes(m, expect);
	for (unsigned i = p; i < p + n; i++)
		page_gone(m, &m->pg[i]);
}

/* The leaf flags page @q gets from a protect to @fl (alloc's protect
 * hook: WRITE is not given back to a shared page or the zero page). */
static uint32_t protected_flags(struct model *m, const struct mpage *q,
				uint32_t fl)
{
	uint32_t want = fit(m, fl);
	if (q->kind != K_ALLOC || !(want & MMK_PT_WRITE) ||
	    (q->lflags & MMK_PT_WRITE))
		return want;
	if (q->fid != ZERO && m->fr[q->fid].nref == 1)
		return want;
	uint32_t ro = want & ~(uint32_t)MMK_PT_WRITE;
	return ro & MMK_PT_RWX ? ro : ro | MMK_PT_READ;
}

static void op_protect(struct model *m)
{
	unsigned p, n;
	pick_range(m, &p, &n);
	uint32_t fl = m->flags[rnd(m, m->nflags)];
	bool expect[NPAGES] = {0};
	for (unsigned i = p; i < p + n; i++)
		expect[i] = is_mapped(&m->pg[i]) && m->pg[i].flags != fl &&
			    lost_permission(m->pg[i].lflags,
					    protected_flags(m, &m->pg[i], fl));
	int w = snprintf(cur_op, sizeof(cur_op),
			 "protect p %u n %u to %#x, old", p, n, fl);
	for (unsigned i = p; i < p + n && w < 100; i++)
		w += snprintf(cur_op + w, sizeof(cur_op) - (size_t)w,
			      " %d/%d/%#x", m->pg[i].kind, m->pg[i].present,
			      m->pg[i].flags);
	int got = mmk_aspace_protect(m->as, va_of(m, p), n * m->ps, fl);
	if (injected_enomem(got))
		return;
	if (got)
		fail_msg("protect p %u n %u: %s", p, n, mmk_strerror(got));
	check_flushes(m, expect);
	for (unsigned i = p; i < p + n; i++) {
		struct mpage *q = &m->pg[i];
		if (q->kind == K_NONE || q->flags == fl)
			continue;
		q->lflags = protected_flags(m, q, fl);
		q->flags = fl;
	}
}

static const uint32_t accesses[] = {MMK_ACCESS_READ, MMK_ACCESS_WRITE,
				    MMK_ACCESS_EXEC,
				    MMK_ACCESS_READ | MMK_ACCESS_WRITE};

static void op_populate(struct model *m)
{
	unsigned p, n;
	pick_range(m, &p, &n);
	uint32_t acc = accesses[rnd(m, MMK_ARRAY_SIZE(accesses))];
	int want = 0;
	for (unsigned i = p; i < p + n; i++)
		if (m->pg[i].kind == K_NONE)
			want = MMK_ENOMEM;
	for (unsigned i = p; i < p + n && !want; i++)
		if ((m->pg[i].flags & acc) != acc)
			want = MMK_EACCES;
	int got = mmk_aspace_populate(m->as, va_of(m, p), n * m->ps, acc);
	if (want != MMK_ENOMEM && injected_enomem(got))
		return;
	if (got != want)
		fail_msg("populate p %u n %u: %s, want %s", p, n,
			 mmk_strerror(got), mmk_strerror(want));
	check_no_flush(m);
	if (got)
		return;
	/* the holes get fresh frames; mapped pages stay as they are */
	for (unsigned i = p; i < p + n; i++) {
		struct mpage *q = &m->pg[i];
		if (q->kind == K_ALLOC && !q->present) {
			q->present = true;
			q->fid = frame_new(m);
			q->lflags = q->flags;
		}
	}
}

/* Pages [first, last] of the byte range [off, off + len) of the space. */
static bool range_allows(struct model *m, uint64_t off, uint64_t len,
			 uint32_t acc)
{
	for (uint64_t p = off / m->ps; p <= (off + len - 1) / m->ps; p++)
		if (m->pg[p].kind == K_NONE || !(m->pg[p].flags & acc))
			return false;
	return true;
}

static void op_copy(struct model *m, bool write)
{
	static uint8_t buf[3 * 16384 + 64];
	uint64_t size = NPAGES * m->ps;
	uint64_t len = 1 + rnd(m, rnd(m, 4) ? 200 : 2 * m->ps + 50);
	uint64_t off = rnd(m, size - len + 1);
	uint32_t acc = write ? MMK_ACCESS_WRITE : MMK_ACCESS_READ;
	int want = range_allows(m, off, len, acc) ? 0 : MMK_EFAULT;
	int got;
	if (write) {
		for (uint64_t i = 0; i < len; i++)
			buf[i] = (uint8_t)mmk_test_rand(&m->rng);
		got = mmk_aspace_write_kernel(m->as, BASE + off, buf, len);
	} else {
		memset(buf, 0xa5, len);
		got = mmk_aspace_read_kernel(m->as, BASE + off, buf, len);
	}
	if (got != want)
		fail_msg("%s off %#llx len %llu: %s, want %s",
			 write ? "write" : "read", (unsigned long long)off,
			 (unsigned long long)len, mmk_strerror(got),
			 mmk_strerror(want));
	bool copied[NPAGES] = {0};
	if (!got)
		for (uint64_t p = off / m->ps; p <= (off + len - 1) / m->ps;
		     p++)
			model_fault(m, (unsigned)p, acc, copied);
	check_no_flush_but(m, copied);
	if (got)
		return;
	for (uint64_t done = 0; done < len;) {
		uint64_t p = (off + done) / m->ps, in = (off + done) % m->ps;
		uint64_t k = MMK_MIN(len - done, m->ps - in);
		uint8_t *c = content(m, &m->pg[p]) + in;
		if (write)
			memcpy(c, buf + done, k);
		else if (memcmp(c, buf + done, k) != 0)
			fail_msg("read off %#llx: bytes differ at page %llu",
				 (unsigned long long)off,
				 (unsigned long long)p);
		done += k;
	}
}

static void op_fault(struct model *m)
{
	unsigned p = (unsigned)rnd(m, NPAGES);
	uint32_t acc = accesses[rnd(m, MMK_ARRAY_SIZE(accesses))];
	mmk_vaddr_t va = va_of(m, p) + rnd(m, m->ps);
	const struct mpage *q = &m->pg[p];
	int want = q->kind == K_NONE	     ? MMK_EFAULT
		   : (q->flags & acc) != acc ? MMK_EACCES
					     : 0;
	int got = mmk_aspace_fault(m->as, va, acc);
	if (injected_enomem(got))
		return;
	if (got != want)
		fail_msg("fault page %u access %#x: %s, want %s", p, acc,
			 mmk_strerror(got), mmk_strerror(want));
	bool copied[NPAGES] = {0};
	if (!got)
		model_fault(m, p, acc, copied);
	check_no_flush_but(m, copied);
}

static void op_can_access(struct model *m)
{
	unsigned p, n;
	pick_range(m, &p, &n);
	uint32_t acc = accesses[rnd(m, MMK_ARRAY_SIZE(accesses))];
	uint64_t off = p * m->ps + rnd(m, m->ps);
	uint64_t len = 1 + rnd(m, n * m->ps - (off - p * m->ps));
	bool want = true;
	for (uint64_t q = off / m->ps; q <= (off + len - 1) / m->ps; q++)
		if (m->pg[q].kind == K_NONE || (m->pg[q].flags & acc) != acc)
			want = false;
	if (mmk_aspace_can_access_range(m->as, BASE + off, len, acc) != want)
		fail_msg("can_access off %#llx len %llu",
			 (unsigned long long)off, (unsigned long long)len);
}

/* ------------------------------------------------------------ spaces */

static void space_create(struct model *m, unsigned s, enum mmk_pt_format_id id)
{
	assert_int_equal(mmk_aspace_create(&m->sp[s].as, BASE, 1024 * MMK_MIB,
					   id, 0, m->fa),
			 0);
	mmk_aspace_set_asid(&m->sp[s].as, s + 1);
	mmk_aspace_activate(&m->sp[s].as);
	for (unsigned p = 0; p < NPAGES; p++)
		m->sp[s].pg[p] = (struct mpage){K_NONE, false, 0, 0, 0, 0};
}

static void space_destroy(struct model *m, unsigned s)
{
	mmk_aspace_destroy(&m->sp[s].as);
	for (unsigned p = 0; p < NPAGES; p++)
		page_gone(m, &m->sp[s].pg[p]);
}

/* A child that exits: destroy it and make it again, empty. */
static void op_destroy(struct model *m, enum mmk_pt_format_id id)
{
	unsigned s = (unsigned)rnd(m, m->nsp);
	space_destroy(m, s);
	space_create(m, s, id);
	mmk_hosted_flush_reset();
}

/* The failure the loop drew for this operation, armed by arm(). */
static enum mmk_failsite plan_site;
static long plan_nth;

static void arm(void)
{
	if (injecting)
		mmk_hosted_fail_nth(plan_site, plan_nth);
}

/* fork: space d (destroyed and made again) becomes a child of s */
static void op_clone(struct model *m, enum mmk_pt_format_id id)
{
	unsigned s = (unsigned)rnd(m, m->nsp);
	unsigned d = (s + 1 + (unsigned)rnd(m, m->nsp - 1)) % m->nsp;
	space_destroy(m, d);
	space_create(m, d, id);
	mmk_hosted_flush_reset();
	snprintf(cur_op, sizeof(cur_op), "clone %u -> %u", s, d);
	arm();
	int got = mmk_aspace_clone(&m->sp[s].as, &m->sp[d].as);
	use_space(m, s);
	if (injected_enomem(got)) {
		/* the child stays empty (checked in full) */
		if (mmk_hosted_flush_count() != 0)
			fail_msg("a failed clone flushed");
		return;
	}
	if (got)
		fail_msg("clone %u -> %u: %s", s, d, mmk_strerror(got));
	bool lost = false, lost_pg[NPAGES] = {0};
	for (unsigned p = 0; p < NPAGES; p++) {
		struct mpage *q = &m->sp[s].pg[p], *c = &m->sp[d].pg[p];
		*c = *q;
		if (q->kind != K_ALLOC || !q->present)
			continue;
		if ((fit(m, q->flags) & MMK_PT_RWX) == MMK_PT_WRITE) {
			/* write-only: copied, not shared */
			c->fid = frame_new(m);
			memcpy(frame_data(m, c->fid), frame_data(m, q->fid),
			       m->ps);
			continue;
		}
		if (q->fid != ZERO)
			m->fr[q->fid].nref++;
		if (q->lflags & MMK_PT_WRITE) {
			lost = lost_pg[p] = true;
			q->lflags &= ~(uint32_t)MMK_PT_WRITE;
			c->lflags = q->lflags;
		}
	}
	/* the parent once (only if a page lost WRITE), the child never */
	size_t n = mmk_hosted_flush_count();
	if (n != (lost ? 1u : 0u))
		fail_msg("clone %u -> %u: %zu flushes", s, d, n);
	for (size_t i = 0; i < n; i++) {
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(i, &f);
		if (f.asid != s + 1)
			fail_msg("clone flushed asid %u, parent is %u", f.asid,
				 s + 1);
	}
	for (unsigned p = 0; p < NPAGES; p++)
		if (lost_pg[p] && !mmk_hosted_flushed(va_of(m, p)))
			fail_msg("clone: page %u lost WRITE, not flushed", p);
}

/* ------------------------------------------------------------ picture */
static struct model *cur_model;
static const char *cur_format;

static void picture_line(void *ctx, const char *line)
{
	fprintf(ctx, "%s\n", line);
}

/* Every space of the current run as an SVG (once per run on a failure:
 * the drawing itself must not fail the test again). */
static void model_picture(const char *why)
{
	static bool drawn;
	struct model *m = cur_model;
	if (!m || (drawn && !strcmp(why, "failure")))
		return;
	drawn = !strcmp(why, "failure");
	const char *dir = getenv("MMK_MODEL_SVG_DIR");
	for (unsigned s = 0; s < m->nsp; s++) {
		char name[96], path[512];
		snprintf(name, sizeof(name), "model-%s-%s-%u", why, cur_format,
			 s);
		snprintf(path, sizeof(path), "%s/%s.svg", dir ? dir : ".",
			 name);
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (!f)
			return;
		int err = mmk_aspace_dump_layout(&m->sp[s].as, name,
						 picture_line, f);
		fclose(f);
		FILE *in = err ? NULL : fmemopen(buf, len, "r");
		if (in) {
			err = mmkit_maps_svg_file(in, name, name, path);
			fclose(in);
		}
		free(buf);
		print_message("%s: space %u (%s) %s %s\n", why, s, cur_op,
			      err ? "could not be drawn to" : "drawn:", path);
	}
}

/* ---------------------------------------------------------------- runs */

static long env_long(const char *name, long dflt)
{
	const char *e = getenv(name);
	return e ? atol(e) : dflt;
}

static void run_format(enum mmk_pt_format_id id, long nops, uint64_t seed,
		       unsigned nsp)
{
	struct mmk_pt_info info;
	if (mmk_pt_format_info(id, &info) == MMK_ENOTSUP)
		return;
	static struct model m;
	memset(&m, 0, sizeof(m));
	m.fa = mmk_hosted_frames_new();
	long f0 = mmk_hosted_live_frames(), o0 = mmk_hosted_live_objs();
	m.nsp = nsp;
	for (unsigned s = 0; s < nsp; s++)
		space_create(&m, s, id);
	use_space(&m, 0);
	m.ps = m.as->page_size;
	m.nflags = as_valid_flags(m.as, m.flags);
	assert_true(m.nflags >= 3);
	m.fmem = calloc(MAXFR, m.ps);
	m.pmem = calloc(POOL, m.ps);
	unsigned order = 0;
	while (((uint64_t)MMK_PAGE_SIZE << order) < POOL * m.ps)
		order++;
	assert_int_equal(mmk_frame_alloc(m.fa, order, MMK_FRAME_ZERO, &m.pool),
			 0);
	m.rng = seed ^ (uint64_t)id * 0x9e3779b97f4a7c15ull ^ nsp;
	cur_model = &m;
	cur_format = info.name;
	bool fork = nsp > 1;
	for (long i = 0; i < nops; i++) {
		unsigned r = (unsigned)rnd(&m, fork ? 104 : 100);
		if (fork)
			use_space(&m, (unsigned)rnd(&m, nsp));
		mmk_hosted_flush_reset();
		/* 1 in 16 of the operations that promise all or nothing (not
		 * read/write, which may stop after faulting some pages in)
		 * run with the 1st..4th frame or object allocation failing */
		injecting = (r < 44 || (r >= 76 && r < 92) ||
			     (r >= 100 && r < 103)) &&
			    rnd(&m, 16) == 0;
		injected_fail = false;
		if (injecting) {
			/* drawn in a fixed order, not as arguments */
			bool frame_site = rnd(&m, 2);
			plan_nth = 1 + (long)rnd(&m, 4);
			plan_site = frame_site ? MMK_FAIL_FRAME : MMK_FAIL_OBJ;
			if (r < 100)
				arm(); /* clone arms after making the child */
		}
		if (r < 12)
			op_map(&m), m.ops[0]++;
		else if (r < 22)
			op_unmap(&m), m.ops[1]++;
		else if (r < 36)
			op_protect(&m), m.ops[2]++;
		else if (r < 44)
			op_populate(&m), m.ops[3]++;
		else if (r < 60)
			op_copy(&m, false), m.ops[4]++;
		else if (r < 76)
			op_copy(&m, true), m.ops[5]++;
		else if (r < 92)
			op_fault(&m), m.ops[6]++;
		else if (r < 100)
			op_can_access(&m), m.ops[7]++;
		else if (r < 103)
			op_clone(&m, id), m.ops[9]++;
		else
			op_destroy(&m, id), m.ops[10]++;
		if (injecting)
			mmk_hosted_fail_off();
		if (injected_fail)
			m.ops[8]++;
		if (fork || injected_fail || i % CHECK_EVERY == 0)
			check_all(&m);
	}
	check_all(&m);
	print_message("%-16s %u space(s), %ld ops: map %ld unmap %ld protect "
		      "%ld populate %ld read %ld write %ld fault %ld "
		      "can_access %ld clone %ld destroy %ld; %ld failed by "
		      "injection, undone; areas %zu\n",
		      info.name, nsp, nops, m.ops[0], m.ops[1], m.ops[2],
		      m.ops[3], m.ops[4], m.ops[5], m.ops[6], m.ops[7],
		      m.ops[9], m.ops[10], m.ops[8],
		      mmk_aspace_area_count(m.as));
	if (env_long("MMK_MODEL_DRAW", 0))
		model_picture("end");
	cur_model = NULL;
	for (unsigned s = 0; s < nsp; s++)
		space_destroy(&m, s);
	for (unsigned f = 1; f < MAXFR; f++)
		assert_int_equal(m.fr[f].nref, 0);
	assert_int_equal(mmk_frame_free(m.fa, m.pool), 0);
	assert_int_equal(mmk_hosted_live_frames(), f0);
	assert_int_equal(mmk_hosted_live_objs(), o0);
	assert_int_equal(f0, 0); /* nothing else lives in this test */
	assert_int_equal(o0, 0);
	free(m.fmem);
	free(m.pmem);
	mmk_hosted_frames_destroy(m.fa);
}

static void run_all(long nops, unsigned nsp)
{
	mmk_hosted_init(0);
	mmk_hosted_log_reset(true);
	uint64_t seed = mmk_test_seed(0x5eed6a5ace);
	int ran = 0;
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt_info info;
		if (mmk_pt_format_info((enum mmk_pt_format_id)id, &info) != 0)
			continue;
		run_format((enum mmk_pt_format_id)id, nops, seed, nsp);
		ran++;
	}
	assert_true(ran > 0);
}

static void random_operations_match_the_model_on_every_format(void **state)
{
	(void)state;
	run_all(env_long("MMK_MODEL_OPS", 100000), 1);
}

static void
forks_across_four_spaces_match_the_model_on_every_format(void **state)
{
	(void)state;
	run_all(env_long("MMK_MODEL_FORK_OPS", 3000), NSPACES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			random_operations_match_the_model_on_every_format),
		cmocka_unit_test(
			forks_across_four_spaces_match_the_model_on_every_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
