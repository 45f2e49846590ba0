/* SPDX-License-Identifier: MIT */
/*
 * The hosted HAL's TLB: a software TLB per CPU, the flush hooks that empty
 * it (local, and the shootdown to other CPUs), the root each CPU runs with,
 * and what tests count (mmk_hosted.h, "TLB").
 *
 * A CPU here is an id, not necessarily a thread: a target CPU that serves
 * its own interrupts (a thread in mmk_hosted_ipi_serve mode) gets the
 * request in its mailbox and answers it when it polls; any other target's
 * TLB is emptied by the sender itself under that CPU's lock, as if its
 * interrupt handler had run at once.  Either way the sender sends first,
 * flushes its own TLB, then waits, as mmk_hal_tlb_shootdown asks.
 *
 * A software TLB entry is filled only under its CPU's lock, by the access
 * helpers of mmk_hosted_tlb.h (the walk and the fill are one step, as a
 * hardware walk is against an invalidation), and emptied under it.
 */
#include "mmk_hosted.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ASID_WORDS ((1u << 16) / 64)
/* the mailbox slot a target claimed (it is flushing from it) */
#define CLAIMED ((const struct mmk_tlb_flush *)1)

struct hcpu {
	pthread_mutex_t mu;
	mmk_paddr_t root; /* under mu */
	uint32_t asid;
	struct mmk_hosted_tlbe e[MMK_HOSTED_TLB_ENTRIES];
	unsigned next; /* round-robin victim */
	/* ASIDs this CPU may hold entries of (loaded since its last flush of
	 * them): a flush of another one is one it could not need */
	uint64_t seen[ASID_WORDS];
	_Atomic long ipis, local, useless;
	_Atomic uint64_t serve_ns;
	_Atomic bool serving;
	/* one slot per sender: the request it waits on */
	_Atomic(const struct mmk_tlb_flush *) box[MMK_CFG_MAX_CPUS];
};

static struct hcpu hcpus[MMK_CFG_MAX_CPUS];
static pthread_once_t hcpus_once = PTHREAD_ONCE_INIT;
static _Atomic int drop_next = -2; /* -2 none, -1 a whole shootdown, c */
/* mmk_hosted_tlb_on_shootdown: told of every shootdown before it is sent */
static void (*_Atomic shoot_hook)(void *arg);
static void *_Atomic shoot_arg;

static void hcpus_init(void)
{
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
		pthread_mutex_init(&hcpus[c].mu, NULL);
}

static struct hcpu *hcpu(unsigned c)
{
	pthread_once(&hcpus_once, hcpus_init);
	if (c >= MMK_CFG_MAX_CPUS)
		abort();
	return &hcpus[c];
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool seen_test(const struct hcpu *h, uint32_t asid)
{
	asid &= 0xffff;
	return (h->seen[asid / 64] >> (asid % 64)) & 1;
}

static void seen_set(struct hcpu *h, uint32_t asid, bool on)
{
	asid &= 0xffff;
	uint64_t bit = (uint64_t)1 << (asid % 64);
	if (on)
		h->seen[asid / 64] |= bit;
	else
		h->seen[asid / 64] &= ~bit;
}

/* ------------------------------------------------------- the flush log */

#define FLUSH_LOG 65536
static struct mmk_hosted_flush flush_log[FLUSH_LOG];
static size_t flush_n;
static pthread_mutex_t flush_mu = PTHREAD_MUTEX_INITIALIZER;

static void flush_record(const mmk_cpumask_t *cpus,
			 const struct mmk_tlb_flush *f)
{
	pthread_mutex_lock(&flush_mu);
	if (f->all) {
		struct mmk_hosted_flush r = {
			MMK_HOSTED_FLUSH_ALL, *cpus, f->asid, 0, 0, true};
		flush_log[flush_n++ % FLUSH_LOG] = r;
	}
	for (unsigned i = 0; !f->all && i < f->nranges; i++) {
		struct mmk_hosted_flush r = {
			MMK_HOSTED_FLUSH_RANGE, *cpus,		 f->asid,
			f->range[i].start,	f->range[i].end, f->global};
		flush_log[flush_n++ % FLUSH_LOG] = r;
	}
	pthread_mutex_unlock(&flush_mu);
}

void mmk_hosted_flush_reset(void)
{
	pthread_mutex_lock(&flush_mu);
	flush_n = 0;
	pthread_mutex_unlock(&flush_mu);
}

size_t mmk_hosted_flush_count(void)
{
	pthread_mutex_lock(&flush_mu);
	size_t n = flush_n;
	pthread_mutex_unlock(&flush_mu);
	return n;
}

void mmk_hosted_flush_get(size_t i, struct mmk_hosted_flush *out)
{
	pthread_mutex_lock(&flush_mu);
	*out = flush_log[i % FLUSH_LOG];
	pthread_mutex_unlock(&flush_mu);
}

bool mmk_hosted_flushed(mmk_vaddr_t va)
{
	bool hit = false;
	pthread_mutex_lock(&flush_mu);
	size_t n = flush_n < FLUSH_LOG ? flush_n : FLUSH_LOG;
	for (size_t i = 0; i < n && !hit; i++) {
		const struct mmk_hosted_flush *f = &flush_log[i];
		hit = f->kind == MMK_HOSTED_FLUSH_ALL ||
		      (va >= f->start && va < f->end);
	}
	pthread_mutex_unlock(&flush_mu);
	return hit;
}

/* --------------------------------------------------- applying a request */

static bool entry_hit(const struct mmk_hosted_tlbe *e,
		      const struct mmk_tlb_flush *f)
{
	if (!e->valid)
		return false;
	if (f->all)
		return f->asid == MMK_ASID_ALL ||
		       (e->asid == f->asid && !e->global);
	if (e->asid != f->asid && !(f->global && e->global))
		return false;
	for (unsigned i = 0; i < f->nranges; i++)
		if (e->va < f->range[i].end &&
		    f->range[i].start < e->va + e->size)
			return true;
	return false;
}

/* Empty what @f names from @h's TLB.  @h->mu held. */
static void apply(struct hcpu *h, const struct mmk_tlb_flush *f)
{
	for (unsigned i = 0; i < MMK_HOSTED_TLB_ENTRIES; i++)
		if (entry_hit(&h->e[i], f))
			h->e[i].valid = false;
	if (!f->all)
		return;
	if (f->asid == MMK_ASID_ALL)
		memset(h->seen, 0, sizeof(h->seen));
	else
		seen_set(h, f->asid, false);
	seen_set(h, h->asid, true); /* it runs with that one: refills */
}

/* Count a request @h could not need (an ASID it holds nothing of).
 * Global and everything-flushes are never counted.  @h->mu held. */
static void count_useless(struct hcpu *h, const struct mmk_tlb_flush *f)
{
	if (f->asid == MMK_ASID_ALL || f->global)
		return;
	if (!seen_test(h, f->asid))
		atomic_fetch_add(&h->useless, 1);
}

static void apply_locked(struct hcpu *h, const struct mmk_tlb_flush *f)
{
	pthread_mutex_lock(&h->mu);
	count_useless(h, f);
	apply(h, f);
	pthread_mutex_unlock(&h->mu);
}

/* ------------------------------------------------------------ the hooks */

void mmk_hal_tlb_local_range(uint32_t asid, mmk_vaddr_t start, mmk_vaddr_t end,
			     bool global)
{
	struct mmk_tlb_range r = {start, end};
	struct mmk_tlb_flush f = {asid, false, global, 1, &r};
	struct hcpu *h = hcpu(mmk_hal_cpu_id());
	atomic_fetch_add(&h->local, 1);
	apply_locked(h, &f);
}

void mmk_hal_tlb_local_all(uint32_t asid)
{
	struct mmk_tlb_flush f = {asid, true, asid == MMK_ASID_ALL, 0, NULL};
	struct hcpu *h = hcpu(mmk_hal_cpu_id());
	atomic_fetch_add(&h->local, 1);
	apply_locked(h, &f);
}

/* Send @f to CPU @c; true if it went to @c's mailbox (wait for it). */
static bool send_one(unsigned self, unsigned c, const struct mmk_tlb_flush *f)
{
	struct hcpu *h = hcpu(c);
	atomic_fetch_add(&h->ipis, 1);
	if (atomic_load(&h->serving)) {
		atomic_store(&h->box[self], f);
		return true;
	}
	apply_locked(h, f); /* its handler, run at once */
	return false;
}

/* Wait until CPU @c has answered; if it stopped serving meanwhile, take
 * the request back and do it for it.  Answers our own mailbox while
 * waiting (two CPUs may shoot each other down). */
static void wait_one(unsigned self, unsigned c, const struct mmk_tlb_flush *f)
{
	struct hcpu *h = hcpu(c);
	for (;;) {
		const struct mmk_tlb_flush *cur = atomic_load(&h->box[self]);
		if (cur == NULL)
			return;
		if (cur == f && !atomic_load(&h->serving)) {
			const struct mmk_tlb_flush *exp = f;
			if (atomic_compare_exchange_strong(&h->box[self], &exp,
							   NULL)) {
				apply_locked(h, f);
				return;
			}
		}
		mmk_hosted_ipi_poll();
		sched_yield();
	}
}

void mmk_hal_tlb_shootdown(const mmk_cpumask_t *cpus,
			   const struct mmk_tlb_flush *f)
{
	unsigned self = mmk_hal_cpu_id();
	void (*hook)(void *) = atomic_load(&shoot_hook);
	if (hook)
		hook(atomic_load(&shoot_arg));
	flush_record(cpus, f);
	int drop = atomic_exchange(&drop_next, -2);
	if (drop == -1)
		return; /* debug hook: this shootdown is lost entirely */
	mmk_cpumask_t sent;
	mmk_cpumask_clear(&sent);
	/* 1. send */
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++) {
		if (c == self || !mmk_cpumask_test(cpus, c))
			continue;
		if ((int)c == drop) {
			atomic_fetch_add(&hcpu(c)->ipis, 1);
			continue; /* debug hook: misdirected, c never gets it */
		}
		if (send_one(self, c, f))
			mmk_cpumask_set(&sent, c);
	}
	/* 2. flush here, overlapping the targets' work */
	if (mmk_cpumask_test(cpus, self)) {
		struct hcpu *h = hcpu(self);
		atomic_fetch_add(&h->local, 1);
		apply_locked(h, f);
	}
	/* 3. wait */
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
		if (mmk_cpumask_test(&sent, c))
			wait_one(self, c, f);
}

void mmk_hal_write_root(mmk_paddr_t root, uint32_t asid, uint64_t regval)
{
	(void)regval;
	struct hcpu *h = hcpu(mmk_hal_cpu_id());
	pthread_mutex_lock(&h->mu);
	h->root = root;
	h->asid = asid;
	seen_set(h, asid, true);
	pthread_mutex_unlock(&h->mu);
}

mmk_paddr_t mmk_hosted_current_root(uint32_t *asid)
{
	return mmk_hosted_cpu_root(mmk_hal_cpu_id(), asid);
}

mmk_paddr_t mmk_hosted_cpu_root(unsigned cpu, uint32_t *asid)
{
	struct hcpu *h = hcpu(cpu);
	pthread_mutex_lock(&h->mu);
	mmk_paddr_t r = h->root;
	if (asid)
		*asid = h->asid;
	pthread_mutex_unlock(&h->mu);
	return r;
}

/* ------------------------------------------------- serving interrupts */

void mmk_hosted_ipi_serve(bool on)
{
	struct hcpu *h = hcpu(mmk_hal_cpu_id());
	atomic_store(&h->serving, on);
	if (!on)
		mmk_hosted_ipi_poll(); /* answer what came before */
}

void mmk_hosted_ipi_poll(void)
{
	int id = mmk_hosted_cpu;
	if (id < 0)
		return;
	struct hcpu *h = hcpu((unsigned)id);
	for (unsigned s = 0; s < MMK_CFG_MAX_CPUS; s++) {
		const struct mmk_tlb_flush *f = atomic_load(&h->box[s]);
		if (f == NULL || f == CLAIMED)
			continue;
		/* claim it, so the sender cannot take it back (and return,
		 * freeing @f) while this CPU reads it */
		if (!atomic_compare_exchange_strong(&h->box[s], &f, CLAIMED))
			continue;
		uint64_t t0 = now_ns();
		apply_locked(h, f);
		atomic_fetch_add(&h->serve_ns, now_ns() - t0);
		atomic_store(&h->box[s], NULL);
	}
}

/* ----------------------------------------------- the software TLB, tests */

void mmk_hosted_tlb_lock(unsigned cpu)
{
	pthread_mutex_lock(&hcpu(cpu)->mu);
}

void mmk_hosted_tlb_unlock(unsigned cpu)
{
	pthread_mutex_unlock(&hcpu(cpu)->mu);
}

bool mmk_hosted_tlb_find(unsigned cpu, mmk_vaddr_t va,
			 struct mmk_hosted_tlbe *out)
{
	struct hcpu *h = hcpu(cpu);
	for (unsigned i = 0; i < MMK_HOSTED_TLB_ENTRIES; i++) {
		const struct mmk_hosted_tlbe *e = &h->e[i];
		if (e->valid && (e->asid == h->asid || e->global) &&
		    va >= e->va && va - e->va < e->size) {
			*out = *e;
			return true;
		}
	}
	return false;
}

void mmk_hosted_tlb_forget(unsigned cpu, mmk_vaddr_t va)
{
	struct hcpu *h = hcpu(cpu);
	for (unsigned i = 0; i < MMK_HOSTED_TLB_ENTRIES; i++) {
		struct mmk_hosted_tlbe *e = &h->e[i];
		if (e->valid && (e->asid == h->asid || e->global) &&
		    va >= e->va && va - e->va < e->size)
			e->valid = false;
	}
}

void mmk_hosted_tlb_fill(unsigned cpu, const struct mmk_hosted_tlbe *e)
{
	struct hcpu *h = hcpu(cpu);
	struct mmk_hosted_tlbe *v = &h->e[h->next];
	h->next = (h->next + 1) % MMK_HOSTED_TLB_ENTRIES;
	*v = *e;
	v->valid = true;
	seen_set(h, e->asid, true);
}

size_t mmk_hosted_tlb_entries(unsigned cpu, struct mmk_hosted_tlbe *out)
{
	struct hcpu *h = hcpu(cpu);
	size_t n = 0;
	pthread_mutex_lock(&h->mu);
	for (unsigned i = 0; i < MMK_HOSTED_TLB_ENTRIES; i++)
		if (h->e[i].valid)
			out[n++] = h->e[i];
	pthread_mutex_unlock(&h->mu);
	return n;
}

void mmk_hosted_tlb_reset(void)
{
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++) {
		struct hcpu *h = hcpu(c);
		pthread_mutex_lock(&h->mu);
		memset(h->e, 0, sizeof(h->e));
		memset(h->seen, 0, sizeof(h->seen));
		seen_set(h, h->asid, true);
		h->next = 0;
		atomic_store(&h->ipis, 0);
		atomic_store(&h->local, 0);
		atomic_store(&h->useless, 0);
		atomic_store(&h->serve_ns, 0);
		pthread_mutex_unlock(&h->mu);
	}
	atomic_store(&drop_next, -2);
	atomic_store(&shoot_hook, NULL);
}

void mmk_hosted_tlb_count_reset(void)
{
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++) {
		struct hcpu *h = hcpu(c);
		atomic_store(&h->ipis, 0);
		atomic_store(&h->local, 0);
		atomic_store(&h->useless, 0);
		atomic_store(&h->serve_ns, 0);
	}
	mmk_hosted_flush_reset();
}

long mmk_hosted_tlb_ipis(unsigned cpu)
{
	return atomic_load(&hcpu(cpu)->ipis);
}

long mmk_hosted_tlb_local_flushes(unsigned cpu)
{
	return atomic_load(&hcpu(cpu)->local);
}

long mmk_hosted_tlb_useless(void)
{
	long n = 0;
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
		n += atomic_load(&hcpu(c)->useless);
	return n;
}

long mmk_hosted_tlb_ipis_total(void)
{
	long n = 0;
	for (unsigned c = 0; c < MMK_CFG_MAX_CPUS; c++)
		n += atomic_load(&hcpu(c)->ipis);
	return n;
}

uint64_t mmk_hosted_tlb_serve_ns(unsigned cpu)
{
	return atomic_load(&hcpu(cpu)->serve_ns);
}

void mmk_hosted_tlb_drop_next(int cpu)
{
	atomic_store(&drop_next, cpu);
}

void mmk_hosted_tlb_on_shootdown(void (*fn)(void *arg), void *arg)
{
	atomic_store(&shoot_arg, arg);
	atomic_store(&shoot_hook, fn);
}

int mmk_hosted_set_cpu(unsigned cpu)
{
	if (cpu >= MMK_CFG_MAX_CPUS)
		abort();
	int old = mmk_hosted_cpu;
	mmk_hosted_cpu = (int)cpu;
	return old;
}
