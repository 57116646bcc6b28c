/* SPDX-License-Identifier: MIT */
/*
 * A dmirror-style secondary MMU written only with the kernel's names
 * (<umn/compat/mmu_notifier.h>), run against the model address space:
 * the driver part below would read the same in a v5.8 driver (mutexes,
 * mmget_not_zero, the read_begin / hmm_range_fault / read_retry loop, an
 * interval notifier that skips its own migrations, a classic notifier
 * taken with mmu_notifier_get).  The platform part maps the few things a
 * userspace test needs (hmm_range_fault is the model's range walker).
 *
 * Scenario (acceptance anon_read plus invalidations): fault 16 pages in
 * through the device and read them back; mprotect read-only (the device
 * keeps its entries and write-protects them: update_to_read_only); back to
 * read-write (entries dropped); munmap of 4 pages (UNMAP drops exactly
 * those, the device then faults -EFAULT there); a read_begin overtaken by
 * an unmap must retry; every classic start has its end; teardown.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <umn/compat/mmu_notifier.h>
#include <umn/model.h>
#include "harness.h"

/* ---- platform: what the kernel provides around the driver -------------- */

struct mutex { pthread_mutex_t m; };
static void mutex_init(struct mutex *l) { pthread_mutex_init(&l->m, NULL); }
static void mutex_lock(struct mutex *l) { pthread_mutex_lock(&l->m); }
static int mutex_trylock(struct mutex *l) { return !pthread_mutex_trylock(&l->m); }
static void mutex_unlock(struct mutex *l) { pthread_mutex_unlock(&l->m); }

#define PAGE_SIZE UMN_MODEL_PAGE_SIZE
#define HMM_PFN_VALID UMN_MODEL_PFN_VALID
#define HMM_PFN_WRITE UMN_MODEL_PFN_WRITE
#define HMM_PFN_REQ_FAULT UMN_MODEL_REQ_FAULT
#define HMM_PFN_REQ_WRITE UMN_MODEL_REQ_WRITE
#define hmm_range umn_model_range

static struct umn_model *model;       /* the primary MMU ("the CPU") */

static int hmm_range_fault(struct hmm_range *range)
{
	return umn_model_range_fault(model, range);
}

/* ---- the driver: kernel names only --------------------------------------- */

#define NPAGES 16

struct dmirror_entry {
	const struct umn_model_frame *frame;   /* the mirrored page */
	unsigned int index;
	bool valid, write;
};

struct dmirror {
	struct mmu_interval_notifier notifier;
	struct mutex mutex;
	unsigned long start;
	struct dmirror_entry pt[NPAGES];       /* the device page table */
	unsigned long invalidations[MMU_NOTIFY_MIGRATE + 1];
	unsigned long read_only_updates;
};

static void dmirror_do_update(struct dmirror *dmirror, unsigned long start,
			      unsigned long end, bool write_protect_only)
{
	for (unsigned long a = start; a < end; a += PAGE_SIZE) {
		struct dmirror_entry *e;

		if (a < dmirror->start || a >= dmirror->start + NPAGES * PAGE_SIZE)
			continue;
		e = &dmirror->pt[(a - dmirror->start) / PAGE_SIZE];
		if (write_protect_only)
			e->write = false;
		else
			memset(e, 0, sizeof(*e));
	}
}

static bool dmirror_interval_invalidate(struct mmu_interval_notifier *mni,
					const struct mmu_notifier_range *range,
					unsigned long cur_seq)
{
	struct dmirror *dmirror = container_of(mni, struct dmirror, notifier);

	/* Ignore invalidations this device started itself (migration). */
	if (range->event == MMU_NOTIFY_MIGRATE &&
	    range->migrate_pgmap_owner == dmirror)
		return true;
	if (mmu_notifier_range_blockable(range))
		mutex_lock(&dmirror->mutex);
	else if (!mutex_trylock(&dmirror->mutex))
		return false;
	mmu_interval_set_seq(mni, cur_seq);
	dmirror->invalidations[range->event]++;
	if (mmu_notifier_range_update_to_read_only(range)) {
		dmirror->read_only_updates++;
		dmirror_do_update(dmirror, range->start, range->end, true);
	} else {
		dmirror_do_update(dmirror, range->start, range->end, false);
	}
	mutex_unlock(&dmirror->mutex);
	return true;
}

static const struct mmu_interval_notifier_ops dmirror_min_ops = {
	.invalidate = dmirror_interval_invalidate,
};

static int dmirror_range_fault(struct dmirror *dmirror, struct hmm_range *range)
{
	struct mm_struct *mm = dmirror->notifier.mm;
	int ret;

	while (true) {
		range->notifier_seq = mmu_interval_read_begin(range->notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(range);
		mmap_read_unlock(mm);
		if (ret) {
			if (ret == -EBUSY)
				continue;
			return ret;
		}
		mutex_lock(&dmirror->mutex);
		if (mmu_interval_read_retry(range->notifier,
					    range->notifier_seq)) {
			mutex_unlock(&dmirror->mutex);
			continue;
		}
		break;
	}
	/* Publish under the mutex, after read_retry said no. */
	for (unsigned long a = range->start; a < range->end; a += PAGE_SIZE) {
		struct umn_model_pfn *p = &range->pfns[(a - range->start) / PAGE_SIZE];
		struct dmirror_entry *e = &dmirror->pt[(a - dmirror->start) / PAGE_SIZE];

		if (!(p->flags & HMM_PFN_VALID))
			continue;
		e->frame = p->frame;
		e->index = p->index;
		e->valid = true;
		e->write = p->flags & HMM_PFN_WRITE;
	}
	mutex_unlock(&dmirror->mutex);
	return 0;
}

static int dmirror_fault(struct dmirror *dmirror, unsigned long start,
			 unsigned long end, bool write)
{
	struct mm_struct *mm = dmirror->notifier.mm;
	struct umn_model_pfn pfns[NPAGES];
	struct hmm_range range = {
		.notifier = &dmirror->notifier,
		.start = start,
		.end = end,
		.pfns = pfns,
		.default_flags = HMM_PFN_REQ_FAULT |
				 (write ? HMM_PFN_REQ_WRITE : 0),
		.dev_private_owner = dmirror,
	};
	int ret;

	/* The address space may be exiting. */
	if (!mmget_not_zero(mm))
		return -EINVAL;
	ret = dmirror_range_fault(dmirror, &range);
	mmput(mm);
	return ret;
}

/* The device reads through its own page table, faulting what is missing. */
static int dmirror_read(struct dmirror *dmirror, unsigned long start,
			void *buf, unsigned long npages)
{
	for (unsigned long i = 0; i < npages; i++) {
		unsigned long a = start + i * PAGE_SIZE;
		struct dmirror_entry *e;
		int ret;

		mutex_lock(&dmirror->mutex);
		e = &dmirror->pt[(a - dmirror->start) / PAGE_SIZE];
		if (!e->valid) {
			mutex_unlock(&dmirror->mutex);
			ret = dmirror_fault(dmirror, a, a + PAGE_SIZE, false);
			if (ret)
				return ret;
			i--;
			continue;
		}
		memcpy((char *)buf + i * PAGE_SIZE,
		       umn_model_frame_data(e->frame, e->index), PAGE_SIZE);
		mutex_unlock(&dmirror->mutex);
	}
	return 0;
}

/* A classic subscription shared per (ops, mm), counting start/end pairs. */
struct dmirror_classic {
	struct mmu_notifier mn;
	unsigned long starts, ends;
};
static int classic_frees;

static int dmirror_classic_start(struct mmu_notifier *mn,
				 const struct mmu_notifier_range *range)
{
	__atomic_add_fetch(&container_of(mn, struct dmirror_classic, mn)->starts, 1,
			   __ATOMIC_RELAXED);
	return 0;
}

static void dmirror_classic_end(struct mmu_notifier *mn,
				const struct mmu_notifier_range *range)
{
	__atomic_add_fetch(&container_of(mn, struct dmirror_classic, mn)->ends, 1,
			   __ATOMIC_RELAXED);
}

static struct mmu_notifier *dmirror_classic_alloc(struct mm_struct *mm)
{
	struct dmirror_classic *c = calloc(1, sizeof(*c));

	return c ? &c->mn : NULL;
}

static void dmirror_classic_free(struct mmu_notifier *mn)
{
	classic_frees++;
	free(mn);
}

static const struct mmu_notifier_ops dmirror_classic_ops = {
	.invalidate_range_start = dmirror_classic_start,
	.invalidate_range_end = dmirror_classic_end,
	.alloc_notifier = dmirror_classic_alloc,
	.free_notifier = dmirror_classic_free,
};

/* ---- the scenario ------------------------------------------------------------ */

int main(void)
{
	static struct dmirror d;
	struct mm_struct *mm;
	struct mmu_notifier *mn;
	struct dmirror_classic *c;
	unsigned long addr, seq;
	int *data = malloc(NPAGES * PAGE_SIZE), *out = malloc(NPAGES * PAGE_SIZE);

	CHECK(data && out);
	model = umn_model_new(0);
	CHECK(model);
	mm = umn_model_mm(model);
	CHECK_EQ(umn_model_mmap(model, 0, NPAGES * PAGE_SIZE,
				UMN_MODEL_PROT_READ | UMN_MODEL_PROT_WRITE,
				UMN_MODEL_MAP_PRIVATE, NULL, 0, &addr), 0);
	for (unsigned long i = 0; i < NPAGES * PAGE_SIZE / sizeof(int); i++)
		data[i] = (int)i;
	CHECK_EQ(umn_model_write(model, addr, data, NPAGES * PAGE_SIZE), 0);

	/* open: the interval notifier, then the shared classic one */
	mutex_init(&d.mutex);
	d.start = addr;
	CHECK_EQ(mmu_interval_notifier_insert(&d.notifier, mm, addr,
					      NPAGES * PAGE_SIZE,
					      &dmirror_min_ops), 0);
	mn = mmu_notifier_get(&dmirror_classic_ops, mm);
	CHECK(mn);
	CHECK(mmu_notifier_get(&dmirror_classic_ops, mm) == mn);
	mmu_notifier_put(mn);
	c = container_of(mn, struct dmirror_classic, mn);

	/* anon_read: the device reads all pages through its mirror */
	memset(out, 0xff, NPAGES * PAGE_SIZE);
	CHECK_EQ(dmirror_read(&d, addr, out, NPAGES), 0);
	CHECK(memcmp(out, data, NPAGES * PAGE_SIZE) == 0);
	for (int i = 0; i < NPAGES; i++)
		CHECK(d.pt[i].valid);

	/* mprotect read-only: entries kept, write-protected */
	CHECK_EQ(dmirror_fault(&d, addr, addr + NPAGES * PAGE_SIZE, true), 0);
	CHECK(d.pt[0].write);
	CHECK_EQ(umn_model_mprotect(model, addr, NPAGES * PAGE_SIZE,
				    UMN_MODEL_PROT_READ), 0);
	CHECK_EQ(d.invalidations[MMU_NOTIFY_PROTECTION_VMA], 1);
	CHECK_EQ(d.read_only_updates, 1);
	for (int i = 0; i < NPAGES; i++)
		CHECK(d.pt[i].valid && !d.pt[i].write);

	/* back to read-write: not a read-only update, entries dropped */
	CHECK_EQ(umn_model_mprotect(model, addr, NPAGES * PAGE_SIZE,
				    UMN_MODEL_PROT_READ | UMN_MODEL_PROT_WRITE), 0);
	CHECK_EQ(d.read_only_updates, 1);
	for (int i = 0; i < NPAGES; i++)
		CHECK(!d.pt[i].valid);
	CHECK_EQ(dmirror_read(&d, addr, out, NPAGES), 0);
	CHECK(memcmp(out, data, NPAGES * PAGE_SIZE) == 0);

	/* munmap pages 4..7: UNMAP drops exactly those */
	CHECK_EQ(umn_model_munmap(model, addr + 4 * PAGE_SIZE, 4 * PAGE_SIZE), 0);
	CHECK_EQ(d.invalidations[MMU_NOTIFY_UNMAP], 1);
	for (int i = 0; i < NPAGES; i++)
		CHECK_EQ(d.pt[i].valid, i < 4 || i >= 8);
	CHECK_EQ(dmirror_read(&d, addr + 4 * PAGE_SIZE, out, 1), -EFAULT);
	CHECK_EQ(dmirror_read(&d, addr + 8 * PAGE_SIZE, out, 8), 0);
	CHECK(memcmp(out, data + 8 * PAGE_SIZE / sizeof(int), 8 * PAGE_SIZE) == 0);

	/* collision: an unmap between read_begin and read_retry */
	seq = mmu_interval_read_begin(&d.notifier);
	CHECK(!mmu_interval_check_retry(&d.notifier, seq));
	CHECK_EQ(umn_model_munmap(model, addr, PAGE_SIZE), 0);
	mutex_lock(&d.mutex);
	CHECK(mmu_interval_read_retry(&d.notifier, seq));
	mutex_unlock(&d.mutex);

	/* every classic start had its end */
	CHECK(c->starts >= 4);
	CHECK_EQ(c->starts, c->ends);

	/* close: remove, put, wait for the free */
	mmu_interval_notifier_remove(&d.notifier);
	mmu_notifier_put(mn);
	mmu_notifier_synchronize();
	CHECK_EQ(classic_frees, 1);
	umn_model_destroy(model);
	free(data);
	free(out);
	printf("dmirror_compat: 1 passed, 0 failed\n");
	return 0;
}
