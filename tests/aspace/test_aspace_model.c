/* SPDX-License-Identifier: MIT */
/*
 * The model-based randomized test: random operations on a small space,
 * each checked against an oracle that knows, per page, its area kind,
 * flags, whether it is mapped and what it holds.  Run for every page-table
 * format compiled in.
 *
 *   BASE                                                 BASE + NPAGES pages
 *   |  alloc (lazy or populated) | linear -> pool | hole | ... |
 *
 *   pool: POOL contiguous frames the test owns; linear areas map parts of
 *   it (two areas may alias one pool page, so the oracle keeps linear
 *   contents per pool page, alloc contents per virtual page).
 *
 * Checked after every operation: its result; every byte read; the TLB
 * flush record (unmap/protect flush exactly the mapped pages that lost a
 * permission, adding mappings flushes nothing).  Every CHECK_EVERY
 * operations and at the end: every page's translation, flags and physical
 * address, and the memory set's invariants.  At the end, destroying the
 * space brings the live frame and object counts back.
 *
 * MMK_SEED replays a run; MMK_MODEL_OPS overrides the operation count.
 */
#include "aspace_test.h"

#define BASE	    0x40000000ull
#define NPAGES	    160
#define POOL	    32
#define MAXLEN	    8
#define CHECK_EVERY 512

enum kind { K_NONE, K_ALLOC, K_LINEAR };

struct mpage {
	uint8_t kind;
	bool present;
	uint32_t flags;
	unsigned li; /* pool page (linear) */
};

struct model {
	struct mmk_aspace as;
	struct mmk_frames *fa;
	uint64_t ps;
	struct mpage pg[NPAGES];
	uint8_t *vmem; /* alloc contents, NPAGES pages */
	uint8_t *pmem; /* pool contents, POOL pages */
	mmk_paddr_t pool;
	uint32_t flags[16];
	unsigned nflags;
	uint64_t rng;
	long ops[9];
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

static uint8_t *content(struct model *m, unsigned p)
{
	return m->pg[p].kind == K_LINEAR ? m->pmem + m->pg[p].li * m->ps
					 : m->vmem + p * m->ps;
}

static bool is_mapped(const struct mpage *q)
{
	return q->kind == K_LINEAR || (q->kind == K_ALLOC && q->present);
}

/* -------------------------------------------------------------- checks */

static void check_page(struct model *m, unsigned p)
{
	mmk_paddr_t pa;
	uint32_t fl;
	int err = mmk_pt_query(mmk_aspace_pt(&m->as), va_of(m, p), &pa, &fl,
			       NULL);
	const struct mpage *q = &m->pg[p];
	if (!is_mapped(q)) {
		if (err != MMK_ENOENT)
			fail_msg("page %u: mapped, model says not (kind %d)", p,
				 q->kind);
		return;
	}
	if (err)
		fail_msg("page %u: not mapped (%s), model says kind %d", p,
			 mmk_strerror(err), q->kind);
	if ((fl & ~(MMK_PT_ACCESSED | MMK_PT_DIRTY)) != q->flags)
		fail_msg("page %u: flags %#x, model %#x", p, fl, q->flags);
	if (q->kind == K_LINEAR) {
		if (pa.v != m->pool.v + q->li * m->ps)
			fail_msg("page %u: pa %#llx, model pool page %u", p,
				 (unsigned long long)pa.v, q->li);
	}
	/* the frame holds exactly what the model says */
	if (memcmp(mmk_phys_to_virt(pa), content(m, p), m->ps) != 0)
		fail_msg("page %u: contents differ", p);
}

static void check_all(struct model *m)
{
	for (unsigned p = 0; p < NPAGES; p++)
		check_page(m, p);
	assert_int_equal(mmk_mset_check(&m->as.areas), 0);
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
			 mmk_pt_info_name(&m->as), cur_op, n, f.kind,
			 (unsigned long long)f.start,
			 (unsigned long long)f.end);
	}
	for (size_t i = 0; i < n; i++) {
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(i, &f);
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

static void check_no_flush(struct model *m)
{
	if (!m->as.map_flushes && mmk_hosted_flush_count() != 0)
		fail_msg("adding mappings flushed");
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
	int got = linear ? mmk_aspace_map_linear(&m->as, va_of(m, p),
						 mmk_pa(m->pool.v + li * m->ps),
						 n * m->ps, fl)
			 : mmk_aspace_map_alloc(&m->as, va_of(m, p), n * m->ps,
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
		q->flags = fl;
		q->present = linear || populate;
		q->li = li + i;
		if (!linear)
			memset(content(m, p + i), 0, m->ps);
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
	int got = mmk_aspace_unmap(&m->as, va_of(m, p), n * m->ps);
	if (injected_enomem(got))
		return;
	if (got)
		fail_msg("unmap p %u n %u: %s", p, n, mmk_strerror(got));
	check_flushes(m, expect);
	for (unsigned i = p; i < p + n; i++)
		m->pg[i] = (struct mpage){K_NONE, false, 0, 0};
}

static void op_protect(struct model *m)
{
	unsigned p, n;
	pick_range(m, &p, &n);
	uint32_t fl = m->flags[rnd(m, m->nflags)];
	bool expect[NPAGES] = {0};
	for (unsigned i = p; i < p + n; i++)
		expect[i] = is_mapped(&m->pg[i]) &&
			    lost_permission(m->pg[i].flags, fl);
	int w = snprintf(cur_op, sizeof(cur_op),
			 "protect p %u n %u to %#x, old", p, n, fl);
	for (unsigned i = p; i < p + n && w < 100; i++)
		w += snprintf(cur_op + w, sizeof(cur_op) - (size_t)w,
			      " %d/%d/%#x", m->pg[i].kind, m->pg[i].present,
			      m->pg[i].flags);
	int got = mmk_aspace_protect(&m->as, va_of(m, p), n * m->ps, fl);
	if (injected_enomem(got))
		return;
	if (got)
		fail_msg("protect p %u n %u: %s", p, n, mmk_strerror(got));
	check_flushes(m, expect);
	for (unsigned i = p; i < p + n; i++)
		if (m->pg[i].kind != K_NONE)
			m->pg[i].flags = fl;
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
	int got = mmk_aspace_populate(&m->as, va_of(m, p), n * m->ps, acc);
	if (want != MMK_ENOMEM && injected_enomem(got))
		return;
	if (got != want)
		fail_msg("populate p %u n %u: %s, want %s", p, n,
			 mmk_strerror(got), mmk_strerror(want));
	check_no_flush(m);
	if (!got)
		for (unsigned i = p; i < p + n; i++)
			m->pg[i].present = true;
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
		got = mmk_aspace_write_kernel(&m->as, BASE + off, buf, len);
	} else {
		memset(buf, 0xa5, len);
		got = mmk_aspace_read_kernel(&m->as, BASE + off, buf, len);
	}
	if (got != want)
		fail_msg("%s off %#llx len %llu: %s, want %s",
			 write ? "write" : "read", (unsigned long long)off,
			 (unsigned long long)len, mmk_strerror(got),
			 mmk_strerror(want));
	check_no_flush(m);
	if (got)
		return;
	for (uint64_t done = 0; done < len;) {
		uint64_t p = (off + done) / m->ps, in = (off + done) % m->ps;
		uint64_t k = MMK_MIN(len - done, m->ps - in);
		m->pg[p].present = true;
		uint8_t *c = content(m, (unsigned)p) + in;
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
	int got = mmk_aspace_fault(&m->as, va, acc);
	if (injected_enomem(got))
		return;
	if (got != want)
		fail_msg("fault page %u access %#x: %s, want %s", p, acc,
			 mmk_strerror(got), mmk_strerror(want));
	check_no_flush(m);
	if (!got)
		m->pg[p].present = true;
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
	if (mmk_aspace_can_access_range(&m->as, BASE + off, len, acc) != want)
		fail_msg("can_access off %#llx len %llu",
			 (unsigned long long)off, (unsigned long long)len);
}

/* ---------------------------------------------------------------- runs */

static long ops_per_format(void)
{
	const char *e = getenv("MMK_MODEL_OPS");
	return e ? atol(e) : 100000;
}

static void run_format(enum mmk_pt_format_id id, long nops, uint64_t seed)
{
	struct mmk_pt_info info;
	if (mmk_pt_format_info(id, &info) == MMK_ENOTSUP)
		return;
	static struct model m;
	memset(&m, 0, sizeof(m));
	m.fa = mmk_hosted_frames_new();
	long f0 = mmk_hosted_live_frames(), o0 = mmk_hosted_live_objs();
	assert_int_equal(
		mmk_aspace_create(&m.as, BASE, 1024 * MMK_MIB, id, 0, m.fa), 0);
	mmk_aspace_activate(&m.as);
	m.ps = m.as.page_size;
	m.nflags = as_valid_flags(&m.as, m.flags);
	assert_true(m.nflags >= 3);
	m.vmem = calloc(NPAGES, m.ps);
	m.pmem = calloc(POOL, m.ps);
	unsigned order = 0;
	while (((uint64_t)MMK_PAGE_SIZE << order) < POOL * m.ps)
		order++;
	assert_int_equal(mmk_frame_alloc(m.fa, order, MMK_FRAME_ZERO, &m.pool),
			 0);
	m.rng = seed ^ (uint64_t)id * 0x9e3779b97f4a7c15ull;
	for (long i = 0; i < nops; i++) {
		unsigned r = (unsigned)rnd(&m, 100);
		mmk_hosted_flush_reset();
		/* 1 in 16 of the operations that promise all or nothing (not
		 * read/write, which may stop after faulting some pages in)
		 * run with the 1st..4th frame or object allocation failing */
		injecting = (r < 44 || (r >= 76 && r < 92)) && rnd(&m, 16) == 0;
		injected_fail = false;
		if (injecting) {
			/* drawn in a fixed order, not as arguments */
			bool frame_site = rnd(&m, 2);
			long nth = 1 + (long)rnd(&m, 4);
			mmk_hosted_fail_nth(frame_site ? MMK_FAIL_FRAME
						       : MMK_FAIL_OBJ,
					    nth);
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
		else
			op_can_access(&m), m.ops[7]++;
		if (injecting)
			mmk_hosted_fail_off();
		if (injected_fail)
			m.ops[8]++;
		if (injected_fail || i % CHECK_EVERY == 0)
			check_all(&m);
	}
	check_all(&m);
	print_message("%-16s %ld ops: map %ld unmap %ld protect %ld populate "
		      "%ld read %ld write %ld fault %ld can_access %ld; %ld "
		      "failed by injection, undone; areas %zu\n",
		      info.name, nops, m.ops[0], m.ops[1], m.ops[2], m.ops[3],
		      m.ops[4], m.ops[5], m.ops[6], m.ops[7], m.ops[8],
		      mmk_aspace_area_count(&m.as));
	mmk_aspace_destroy(&m.as);
	assert_int_equal(mmk_frame_free(m.fa, m.pool), 0);
	assert_int_equal(mmk_hosted_live_frames(), f0);
	assert_int_equal(mmk_hosted_live_objs(), o0);
	assert_int_equal(f0, 0); /* nothing else lives in this test */
	assert_int_equal(o0, 0);
	free(m.vmem);
	free(m.pmem);
	mmk_hosted_frames_destroy(m.fa);
}

static void random_operations_match_the_model_on_every_format(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_log_reset(true);
	uint64_t seed = mmk_test_seed(0x5eed6a5ace);
	long nops = ops_per_format();
	int ran = 0;
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt_info info;
		if (mmk_pt_format_info((enum mmk_pt_format_id)id, &info) != 0)
			continue;
		run_format((enum mmk_pt_format_id)id, nops, seed);
		ran++;
	}
	assert_true(ran > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			random_operations_match_the_model_on_every_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
