/* SPDX-License-Identifier: MIT */
/*
 * The shared backend: areas over a shared memory object (include/mmkit/
 * shm.h).  An area's offset is the byte offset of its start in the object
 * and its priv the object, on which it holds one reference; two areas
 * over consecutive parts of one object merge (the dead one's reference
 * goes with it).  Fork shares the area (MMK_CLONE_SHARE: the child maps
 * the same frames); dup and split take a reference for the new area.
 *
 * The object's pages sit in a radix tree of 512-slot nodes, as deep as
 * its size needs (fixed at creation):
 *
 *   root (level h-1) -> ... -> leaf node (level 0): slot = pa | 1, 0 empty
 *
 * Readers (faults on pages already there) walk it without a lock, with
 * acquire loads.  A first touch takes the object's lock and builds what is
 * missing -- the nodes down to the slot and a zeroed frame -- out of
 * sight, maps the frame in the faulting space, and only then publishes
 * the slot and hooks the new nodes in (release stores).  So a failure at
 * any step (a node, the frame, a table page of the space) undoes only
 * what nobody has seen: the object is exactly as before.
 */
#include <mmkit/log.h>
#include <mmkit/shm.h>

#include <stdatomic.h>

#define SLOT_BITS 9
#define SLOTS	  (1u << SLOT_BITS)
#define MAX_H	  6 /* 512^6 pages: more than any 64-bit space */

struct shm_node {
	_Atomic uint64_t slot[SLOTS]; /* a child node, or pa | 1 at level 0 */
};

/* A first-touch's unpublished work: the missing nodes, top first. */
struct touch {
	struct shm_node *at; /* deepest node already in the tree */
	unsigned level;	     /* its level */
	struct shm_node *chain[MAX_H];
	unsigned nnew; /* = level: nodes below @at still to build */
};

struct mmk_shm {
	_Atomic long refs;
	_Atomic uint64_t resident;
	struct mmk_frames *frames;
	uint64_t size;
	unsigned page_shift;
	unsigned height;     /* levels of nodes, 1 = the root is a leaf node */
	mmk_spinlock_t lock; /* first touches */
	struct shm_node *root;
	/* The first touch in progress (under @lock): here, not on the
	 * faulting thread's stack, which the fault path keeps small
	 * (docs/STACK.md). */
	struct touch touch;
};

static struct shm_node *node_new(void)
{
	struct shm_node *n = mmk_hal_obj_alloc(sizeof(*n), 64);
	if (n)
		__builtin_memset(n, 0, sizeof(*n));
	return n;
}

static unsigned slot_index(uint64_t idx, unsigned level)
{
	return (unsigned)(idx >> (level * SLOT_BITS)) & (SLOTS - 1);
}

int mmk_shm_create(struct mmk_frames *frames, uint64_t size,
		   unsigned page_shift, struct mmk_shm **out)
{
	if (!frames || !out || page_shift < MMK_PAGE_SHIFT || page_shift > 30)
		return MMK_EINVAL;
	if (size == 0)
		return MMK_EWRAP;
	if (!MMK_IS_ALIGNED(size, (uint64_t)1 << page_shift))
		return MMK_EALIGN;
	struct mmk_shm *o = mmk_hal_obj_alloc(sizeof(*o), 64);
	if (!o)
		return MMK_ENOMEM;
	o->root = node_new();
	if (!o->root) {
		mmk_hal_obj_free(o, sizeof(*o));
		return MMK_ENOMEM;
	}
	atomic_init(&o->refs, 1);
	atomic_init(&o->resident, 0);
	o->frames = frames;
	o->size = size;
	o->page_shift = page_shift;
	o->height = 1;
	for (uint64_t span = SLOTS; span < (size >> page_shift);
	     span <<= SLOT_BITS)
		o->height++;
	mmk_spin_init(&o->lock);
	*out = o;
	return 0;
}

void mmk_shm_get(struct mmk_shm *shm)
{
	long old =
		atomic_fetch_add_explicit(&shm->refs, 1, memory_order_relaxed);
	MMK_ASSERT(old > 0); /* nobody gets a reference on a dead object */
}

/* Put every page of the tree and free its nodes: depth first, without
 * recursion (a path of at most MAX_H nodes, kept here). */
static void free_tree(struct mmk_shm *o)
{
	struct shm_node *path[MAX_H];
	unsigned next[MAX_H];
	int l = (int)o->height - 1; /* the level being walked */
	path[l] = o->root;
	next[l] = 0;
	while (l < (int)o->height) {
		if (next[l] == SLOTS) { /* done with this node */
			mmk_hal_obj_free(path[l], sizeof(*path[l]));
			l++;
			continue;
		}
		uint64_t v = atomic_load_explicit(&path[l]->slot[next[l]++],
						  memory_order_relaxed);
		if (!v)
			continue;
		if (l) {
			path[l - 1] = (struct shm_node *)(uintptr_t)v;
			next[--l] = 0;
			continue;
		}
		int r = mmk_frame_put(o->frames, mmk_pa(v & ~(uint64_t)1));
		MMK_ASSERT(r >= 0);
		(void)r;
	}
}

void mmk_shm_put(struct mmk_shm *shm)
{
	if (atomic_fetch_sub_explicit(&shm->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* Every leaf mapping a page holds its own reference, so the pages
	 * stay until the spaces' flushes put those. */
	free_tree(shm);
	mmk_hal_obj_free(shm, sizeof(*shm));
}

uint64_t mmk_shm_size(const struct mmk_shm *shm)
{
	return shm->size;
}

uint64_t mmk_shm_resident(const struct mmk_shm *shm)
{
	return atomic_load_explicit(&shm->resident, memory_order_relaxed);
}

long mmk_shm_refs(const struct mmk_shm *shm)
{
	return atomic_load_explicit(&shm->refs, memory_order_relaxed);
}

/* The slot value of page @idx (pa | 1), 0 if not there yet.  No lock. */
static uint64_t shm_find(const struct mmk_shm *o, uint64_t idx)
{
	const struct shm_node *n = o->root;
	for (unsigned l = o->height - 1; l > 0; l--) {
		uint64_t v = atomic_load_explicit(&n->slot[slot_index(idx, l)],
						  memory_order_acquire);
		if (!v)
			return 0;
		n = (const struct shm_node *)(uintptr_t)v;
	}
	return atomic_load_explicit(&n->slot[slot_index(idx, 0)],
				    memory_order_acquire);
}

static void touch_undo(struct touch *t)
{
	for (unsigned i = 0; i < t->nnew; i++)
		if (t->chain[i])
			mmk_hal_obj_free(t->chain[i], sizeof(*t->chain[i]));
}

/* Find where the path to @idx stops and build the rest aside.  1 if the
 * page is there already, 0, or MMK_ENOMEM (nothing kept).  Object lock. */
static int touch_prepare(struct mmk_shm *o, uint64_t idx, struct touch *t)
{
	t->at = o->root;
	t->level = o->height - 1;
	while (t->level > 0) {
		uint64_t v = atomic_load_explicit(
			&t->at->slot[slot_index(idx, t->level)],
			memory_order_relaxed);
		if (!v)
			break;
		t->at = (struct shm_node *)(uintptr_t)v;
		t->level--;
	}
	t->nnew = t->level;
	if (!t->nnew)
		return atomic_load_explicit(&t->at->slot[slot_index(idx, 0)],
					    memory_order_relaxed)
			       ? 1
			       : 0;
	for (unsigned i = 0; i < t->nnew; i++)
		t->chain[i] = NULL;
	for (unsigned i = 0; i < t->nnew; i++) {
		t->chain[i] = node_new();
		if (!t->chain[i]) {
			touch_undo(t);
			return MMK_ENOMEM;
		}
		if (i) /* chain[i] sits at level t->level - 1 - i */
			atomic_store_explicit(
				&t->chain[i - 1]
					 ->slot[slot_index(idx, t->level - i)],
				(uint64_t)(uintptr_t)t->chain[i],
				memory_order_relaxed);
	}
	return 0;
}

/* Publish page @pa for @idx: the slot first, then the chain's top (a
 * reader that sees the top sees everything under it).  Object lock. */
static void touch_commit(struct mmk_shm *o, uint64_t idx, struct touch *t,
			 mmk_paddr_t pa)
{
	struct shm_node *leaf = t->nnew ? t->chain[t->nnew - 1] : t->at;
	atomic_store_explicit(&leaf->slot[slot_index(idx, 0)], pa.v | 1,
			      memory_order_release);
	if (t->nnew)
		atomic_store_explicit(&t->at->slot[slot_index(idx, t->level)],
				      (uint64_t)(uintptr_t)t->chain[0],
				      memory_order_release);
	atomic_fetch_add_explicit(&o->resident, 1, memory_order_relaxed);
}

/*
 * The first touch of page @idx, from fault @f: under the object's lock,
 * a zeroed frame (the object's reference) and the mapping's reference,
 * mapped here before anyone else can find the page.  MMK_FAULT_RETRY
 * when the page is now there (mapped by us, or by whoever was first: the
 * fault path looks again), or an error with nothing changed.
 */
static int shm_first_touch(const struct mmk_fault *f, struct mmk_shm *o,
			   uint64_t idx)
{
	struct touch *t = &o->touch;
	mmk_paddr_t pa;
	/* Not with interrupts off: the map may flush (formats that cache
	 * invalid entries), and first touches run only in a faulting
	 * thread's context, never in an interrupt handler. */
	mmk_spin_lock_noirq(&o->lock);
	int err = touch_prepare(o, idx, t);
	if (err) {
		mmk_spin_unlock_noirq(&o->lock);
		return err == 1 ? MMK_FAULT_RETRY : err;
	}
	err = mmk_frame_alloc(o->frames, o->page_shift - MMK_PAGE_SHIFT,
			      MMK_FRAME_ZERO, &pa);
	if (!err) {
		err = mmk_frame_get(o->frames, pa); /* the leaf's */
		MMK_ASSERT(err == 0);
		err = mmk_backend_fault_map(f, NULL, f->page, pa, f->prot);
		if (err) {
			(void)mmk_frame_put(o->frames, pa);
			(void)mmk_frame_put(o->frames, pa);
		}
	}
	if (err)
		touch_undo(t);
	else
		touch_commit(o, idx, t, pa);
	mmk_spin_unlock_noirq(&o->lock);
	if (err == MMK_EEXIST)
		return MMK_FAULT_RETRY; /* something is mapped: look again */
	return err ? err : MMK_FAULT_RETRY;
}

static int shm_fault(const struct mmk_fault *f, struct mmk_fault_page *out)
{
	if (f->present)
		return MMK_EFAULT; /* its pages always have the area's rights */
	struct mmk_shm *o = f->area->priv;
	uint64_t off = f->area->offset + (f->page - f->area->start);
	if (off >= o->size)
		return MMK_ERANGE; /* past the object (a grown area): SIGBUS */
	uint64_t idx = off >> o->page_shift;
	uint64_t v = shm_find(o, idx);
	if (MMK_UNLIKELY(!v))
		return shm_first_touch(f, o, idx);
	out->pa = mmk_pa(v & ~(uint64_t)1);
	/* The leaf's reference.  mmk_shm_punch may take the page out of the
	 * object meanwhile: a get that finds it gone, or a slot that no
	 * longer holds it, makes the fault look again (the reference, if
	 * taken, is given back: the last one frees the page). */
	if (mmk_frame_tryget(o->frames, out->pa))
		return MMK_FAULT_RETRY;
	/* the reference is seen before the slot is read again: a punch that
	 * empties the slot after this read then sees our reference (its
	 * fence pairs with this one) and keeps the page */
	atomic_thread_fence(memory_order_seq_cst);
	if (MMK_UNLIKELY(shm_find(o, idx) != v)) {
		(void)mmk_frame_put(o->frames, out->pa);
		return MMK_FAULT_RETRY;
	}
	out->flags = f->prot;
	out->owned = true;
	return 0;
}

bool mmk_shm_has_page(const struct mmk_shm *shm, uint64_t offset)
{
	return offset < shm->size && shm_find(shm, offset >> shm->page_shift);
}

/* The slot of page @idx if the nodes down to it exist, else NULL. */
static _Atomic uint64_t *shm_slot(struct mmk_shm *o, uint64_t idx)
{
	struct shm_node *n = o->root;
	for (unsigned l = o->height - 1; l > 0; l--) {
		uint64_t v = atomic_load_explicit(&n->slot[slot_index(idx, l)],
						  memory_order_relaxed);
		if (!v)
			return NULL;
		n = (struct shm_node *)(uintptr_t)v;
	}
	return &n->slot[slot_index(idx, 0)];
}

int mmk_shm_punch(struct mmk_shm *shm, uint64_t offset, uint64_t size)
{
	uint64_t page = (uint64_t)1 << shm->page_shift;
	if (offset + size < offset)
		return MMK_EWRAP;
	if ((offset | size) & (page - 1))
		return MMK_EALIGN;
	uint64_t end = MMK_MIN(offset + size, shm->size);
	mmk_spin_lock_noirq(&shm->lock);
	for (uint64_t off = offset; off < end; off += page) {
		_Atomic uint64_t *slot = shm_slot(shm, off >> shm->page_shift);
		uint64_t v =
			slot ? atomic_load_explicit(slot, memory_order_relaxed)
			     : 0;
		if (!v)
			continue;
		mmk_paddr_t pa = mmk_pa(v & ~(uint64_t)1);
		/* Empty the slot, then look for other references: a fault
		 * that got one and read the slot before it emptied maps the
		 * page, and the fences make sure its reference is seen here.
		 * A page still mapped somewhere goes back into its slot,
		 * zeroed where it is, so every mapping reads zeros as after
		 * a punch (a fault meanwhile found the slot empty: its first
		 * touch waits for the lock and then finds the page). */
		atomic_store_explicit(slot, 0, memory_order_release);
		atomic_thread_fence(memory_order_seq_cst);
		if (mmk_frame_refcount(shm->frames, pa) > 1) {
			__builtin_memset(mmk_phys_to_virt(pa), 0, page);
			atomic_store_explicit(slot, v, memory_order_release);
			continue;
		}
		atomic_fetch_sub_explicit(&shm->resident, 1,
					  memory_order_relaxed);
		/* a fault that found the page a moment ago may hold a
		 * reference now: it sees the slot empty, and its put frees
		 * the page */
		int r = mmk_frame_put(shm->frames, pa);
		MMK_ASSERT(r >= 0);
		(void)r;
	}
	mmk_spin_unlock_noirq(&shm->lock);
	return 0;
}

/* mmk_pt_unmap_fn: the leaves' references go at once (see shm_zap). */
static void put_now(void *ctx, const struct mmk_pt_leaf *run)
{
	struct mmk_aspace_op *op = ctx;
	for (uint64_t off = 0; off < run->size; off += run->page_size) {
		int r = mmk_frame_put(op->as->frames, mmk_pa_add(run->pa, off));
		MMK_ASSERT(r == 0); /* the object holds one */
		(void)r;
	}
}

/*
 * Unmap [start, end) of @a.  The leaves' references are put at once, not
 * through the gather: one page of an object may be mapped twice in one
 * space (two areas over the same offset), and a gather threads its frames
 * through their metadata, so it can hold each frame once only.  At once
 * is safe -- the object, held by @a until after this call, keeps every
 * page -- as long as the flush comes before the object can go: now.
 */
static void shm_zap(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
		    mmk_vaddr_t start, mmk_vaddr_t end)
{
	(void)a;
	int err = mmk_pt_unmap_region(&op->as->pt, start, end - start,
				      op->gather, put_now, op);
	MMK_ASSERT(err == 0); /* base pages only */
	(void)err;
	mmk_backend_flush_now(op);
}

static enum mmk_clone_mode shm_clone(const struct mmk_mset_area *a)
{
	(void)a;
	return MMK_CLONE_SHARE;
}

/* A new area over the same object (a split piece, a fork's copy). */
static int shm_hold(const struct mmk_mset_area *orig, struct mmk_mset_area *a)
{
	(void)orig;
	mmk_shm_get(a->priv);
	return 0;
}

static void shm_release(const struct mmk_mset_area *a)
{
	mmk_shm_put(a->priv);
}

const struct mmk_backend mmk_backend_shared = {
	.name = "shared",
	.props = MMK_BACKEND_SHARED | MMK_BACKEND_SHOW_OFFSET |
		 MMK_BACKEND_OWNS_FRAMES,
	.fault = shm_fault,
	.zap = shm_zap,
	.clone = shm_clone,
	.dup = shm_hold,
	.split = shm_hold,
	.release = shm_release,
};

int mmk_aspace_map_shared(struct mmk_aspace *as, mmk_vaddr_t start,
			  uint64_t size, uint32_t prot, struct mmk_shm *shm,
			  uint64_t offset)
{
	if (size == 0 || start + size < start)
		return MMK_EWRAP;
	if ((start | size | offset) & (as->page_size - 1))
		return MMK_EALIGN;
	if (shm && (offset > shm->size || size > shm->size - offset))
		return MMK_ERANGE;
	if (!shm || shm->frames != as->frames ||
	    shm->page_shift != as->page_shift)
		return MMK_EINVAL;
	/* The area's reference; a failed map leaves priv the caller's, and
	 * an area merged into its neighbour gives it back when buried. */
	mmk_shm_get(shm);
	int err = mmk_aspace_map(as, start, size, prot, false,
				 &mmk_backend_shared, offset, shm);
	if (err)
		mmk_shm_put(shm);
	return err;
}
