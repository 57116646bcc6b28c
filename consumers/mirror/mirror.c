/* SPDX-License-Identifier: MIT */
/*
 * umn_mirror: a fake device that mirrors a model address space through umn
 * interval subscriptions (the userspace counterpart of the kernel's dmirror).
 *
 * Follow one device read, top to bottom:
 *
 *   umn_mirror_read()                    the ioctl
 *     mirror_lock(); do_read(); unlock   copy what the device already maps
 *     on -ENOENT: mirror_fault()         one fault pass (counted)
 *       mirror_range_fault()             per chunk of 64 pages:
 *         seq = umn_interval_read_begin(sub)
 *         umn_mmap_read_lock(mm)
 *         umn_model_range_fault()        the walker; -EBUSY if check_retry
 *         umn_mmap_read_unlock(mm)
 *         mirror_lock()
 *         umn_interval_read_retry(sub, seq)?  unlock and start over
 *         publish the entries            pt_store()
 *         mirror_unlock()
 *     and copy again.
 *
 * And the other side, mirror_invalidate(): lock (trylock when the range is
 * not blockable), umn_interval_set_seq(), drop the entries of the range,
 * unlock.  Because the entries are dropped under the same lock that
 * publication takes after read_retry, the device never holds an entry for a
 * range whose invalidation has started.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <umn/umn.h>
#include "mirror.h"

/*
 * A scratch build may define UMN_MIRROR_PLANT_BROKEN_READ_RETRY to make the
 * device ignore collisions (read_retry always false): the acceptance tests
 * anon_teardown and churn must then fail.  Never defined in a real build.
 */
#ifdef UMN_MIRROR_PLANT_BROKEN_READ_RETRY
#undef umn_interval_read_retry
#define umn_interval_read_retry(sub, seq) ((void)(sub), (void)(seq), false)
#endif

#define PAGE_SIZE_ UMN_MODEL_PAGE_SIZE
#define PAGE_SHIFT_ UMN_MODEL_PAGE_SHIFT
#define PT_BUCKETS 4096UL

/* Entry flags. */
#define ME_WRITE  0x1u /* the device may write */
#define ME_DEVICE 0x2u /* device memory (ours) */
#define ME_ATOMIC 0x4u /* exclusive access (kernel: DPT_XA_TAG_ATOMIC) */
#define ME_KEPT   0x8u /* kept through our own migration, about to go */

/* One mirrored page.  Holds no reference on the frame: the notifier is
 * what keeps it valid (as dmirror's xarray). */
struct pt_entry {
	unsigned long vpn;
	struct umn_model_frame *frame;
	unsigned int index;
	unsigned int flags;
	struct pt_entry *next;
};

/* One mirrored range: an interval subscription. */
struct mirror_interval {
	struct umn_interval_notifier sub;
	struct umn_mirror *mirror;
	struct mirror_interval *next;
};

struct umn_mirror {
	struct umn_mm *mm;
	void *device;
	pthread_mutex_t lock;               /* the device page table */
	struct pt_entry **buckets;          /* under lock */
	unsigned long gen;                  /* invalidations seen, under lock */
	struct umn_mirror_stats stats;      /* under lock */
	struct mirror_interval *intervals;  /* set up before use */
	bool verify;
	unsigned int delay_us;
};

/* ---- the device page table (under m->lock) ------------------------------- */

static struct pt_entry **pt_slot(struct umn_mirror *m, unsigned long vpn)
{
	struct pt_entry **pp = &m->buckets[(vpn * 0x9e3779b97f4a7c15ull >> 40) %
					   PT_BUCKETS];

	while (*pp && (*pp)->vpn != vpn)
		pp = &(*pp)->next;
	return pp;
}

static struct pt_entry *pt_load(struct umn_mirror *m, unsigned long vpn)
{
	return *pt_slot(m, vpn);
}

static int pt_store(struct umn_mirror *m, unsigned long vpn,
		    struct umn_model_frame *frame, unsigned int index,
		    unsigned int flags)
{
	struct pt_entry **pp = pt_slot(m, vpn), *e = *pp;

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->vpn = vpn;
		*pp = e;
		m->stats.entries++;
	}
	e->frame = frame;
	e->index = index;
	e->flags = flags;
	return 0;
}

static void pt_erase(struct umn_mirror *m, unsigned long vpn)
{
	struct pt_entry **pp = pt_slot(m, vpn), *e = *pp;

	if (e) {
		*pp = e->next;
		free(e);
		m->stats.entries--;
	}
}

/* Drop entries of pages [first, last] (inclusive: last may be the top). */
static void pt_erase_range(struct umn_mirror *m, unsigned long first,
			   unsigned long last)
{
	if (!m->stats.entries)
		return;
	if (last - first < PT_BUCKETS) {
		for (unsigned long v = first;; v++) {
			pt_erase(m, v);
			if (v == last)
				break;
		}
		return;
	}
	for (unsigned long b = 0; b < PT_BUCKETS; b++) {
		struct pt_entry **pp = &m->buckets[b], *e;

		while ((e = *pp)) {
			if (e->vpn >= first && e->vpn <= last) {
				*pp = e->next;
				free(e);
				m->stats.entries--;
			} else {
				pp = &e->next;
			}
		}
	}
}

/* ---- the lock, and the work a refused invalidation left us ---------------- */

static void mirror_lock(struct umn_mirror *m)
{
	pthread_mutex_lock(&m->lock);
	/* A non-blockable invalidation found the lock taken and was deferred
	 * to us: drop those entries before handing any out. */
	for (struct mirror_interval *iv = m->intervals; iv; iv = iv->next) {
		unsigned long start, last;

		if (umn_interval_deferred_pending(&iv->sub) &&
		    umn_interval_take_deferred(&iv->sub, &start, &last) == 1) {
			pt_erase_range(m, start >> PAGE_SHIFT_,
				       last >> PAGE_SHIFT_);
			m->stats.deferred++;
		}
	}
}

static void mirror_unlock(struct umn_mirror *m)
{
	pthread_mutex_unlock(&m->lock);
}

/* ---- the invalidate callback ------------------------------------------- */

static bool mirror_invalidate(struct umn_interval_notifier *sub,
			      const struct umn_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mirror_interval *iv = (struct mirror_interval *)(void *)
		((char *)sub - offsetof(struct mirror_interval, sub));
	struct umn_mirror *m = iv->mirror;
	unsigned long start = range->start, last = range->end - 1;

	if (umn_notifier_range_blockable(range)) {
		pthread_mutex_lock(&m->lock);
	} else if (pthread_mutex_trylock(&m->lock)) {
		__atomic_fetch_add(&m->stats.refused, 1, __ATOMIC_RELAXED);
		return false;
	}

	umn_interval_set_seq(sub, cur_seq);
	m->gen++;
	if (range->event == UMN_NOTIFY_MIGRATE && range->owner == m->device) {
		/*
		 * Our own migration (as dmirror, we keep our entries: the
		 * migrating operation remaps them itself before the source
		 * frames are freed).  The sequence is still recorded, so a
		 * concurrent fault pass of ours cannot publish the frames
		 * the migration is about to replace.
		 */
		m->stats.ignored_own++;
	} else {
		if (start < umn_interval_start(sub))
			start = umn_interval_start(sub);
		if (last > umn_interval_last(sub))
			last = umn_interval_last(sub);
		pt_erase_range(m, start >> PAGE_SHIFT_, last >> PAGE_SHIFT_);
		m->stats.invalidations++;
		if (range->event == UMN_NOTIFY_RELEASE)
			m->stats.released = true;
	}
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct umn_interval_notifier_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

/* ---- set up and tear down -------------------------------------------------- */

struct umn_mirror *umn_mirror_new(struct umn_mm *mm, void *device)
{
	struct umn_mirror *m;

	if (!mm) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (m)
		m->buckets = calloc(PT_BUCKETS, sizeof(*m->buckets));
	if (!m || !m->buckets) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	m->mm = mm;
	m->device = device ? device : m;
	m->verify = true;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

int umn_mirror_add_range(struct umn_mirror *m, unsigned long start,
			 unsigned long length)
{
	struct mirror_interval *iv = calloc(1, sizeof(*iv));
	int ret;

	if (!iv)
		return -ENOMEM;
	iv->mirror = m;
	ret = umn_interval_notifier_insert(&iv->sub, m->mm, start, length,
					   &mirror_ops);
	if (ret) {
		free(iv);
		return ret;
	}
	pthread_mutex_lock(&m->lock);
	iv->next = m->intervals;
	m->intervals = iv;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void umn_mirror_destroy(struct umn_mirror *m)
{
	struct mirror_interval *iv;

	if (!m)
		return;
	while ((iv = m->intervals)) {
		m->intervals = iv->next;
		umn_interval_notifier_remove(&iv->sub); /* no callback after */
		free(iv);
	}
	pt_erase_range(m, 0, ULONG_MAX);
	pthread_mutex_destroy(&m->lock);
	free(m->buckets);
	free(m);
}

void *umn_mirror_device(const struct umn_mirror *m)
{
	return m->device;
}

void umn_mirror_set_verify(struct umn_mirror *m, bool on)
{
	m->verify = on;
}

void umn_mirror_set_fault_delay(struct umn_mirror *m, unsigned int max_us)
{
	m->delay_us = max_us;
}

void umn_mirror_stats(struct umn_mirror *m, struct umn_mirror_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->stats;
	out->refused = __atomic_load_n(&m->stats.refused, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&m->lock);
}

bool umn_mirror_has_entry(struct umn_mirror *m, unsigned long addr)
{
	bool has;

	mirror_lock(m);
	has = pt_load(m, addr >> PAGE_SHIFT_) != NULL;
	mirror_unlock(m);
	return has;
}

int umn_mirror_run_locked(struct umn_mirror *m, int (*fn)(void *arg),
			  void *arg)
{
	int ret;

	pthread_mutex_lock(&m->lock);
	ret = fn(arg);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* ---- helpers ----------------------------------------------------------------- */

/* The subscription covering addr, and the end of what it covers. */
static struct mirror_interval *interval_of(struct umn_mirror *m,
					   unsigned long addr,
					   unsigned long *limit)
{
	for (struct mirror_interval *iv = m->intervals; iv; iv = iv->next) {
		if (addr >= umn_interval_start(&iv->sub) &&
		    addr <= umn_interval_last(&iv->sub)) {
			unsigned long last = umn_interval_last(&iv->sub);

			*limit = last == ULONG_MAX ? ULONG_MAX : last + 1;
			return iv;
		}
	}
	return NULL;
}

static int cmd_range(const struct umn_mirror_cmd *cmd, unsigned long *start,
		     unsigned long *end)
{
	if (!cmd || !cmd->npages || (cmd->addr & (PAGE_SIZE_ - 1)) ||
	    cmd->npages > (ULONG_MAX - cmd->addr) >> PAGE_SHIFT_)
		return -EINVAL;
	*start = cmd->addr;
	*end = cmd->addr + (cmd->npages << PAGE_SHIFT_);
	return 0;
}

/* Hold the address space up for the operation (kernel: mmget_not_zero). */
static struct umn_model *mirror_get_model(struct umn_mirror *m)
{
	struct umn_model *model;

	if (!umn_mm_get_not_zero(m->mm))
		return NULL;
	model = umn_model_from_mm(m->mm);
	if (!model)
		umn_mm_put(m->mm);
	return model;
}

static void mirror_put_model(struct umn_mirror *m)
{
	umn_mm_put(m->mm);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void fault_delay(struct umn_mirror *m)
{
	static __thread unsigned long long x = 88172645463325252ull;

	if (!m->delay_us)
		return;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	usleep((useconds_t)(x % m->delay_us));
}

/*
 * Does entry e (for page vpn) match the primary now?  Under m->lock, with
 * a users reference held.  A mismatch is the bug the protocol prevents.
 */
static bool entry_matches(struct umn_model *model, unsigned long vpn,
			  const struct pt_entry *e)
{
	struct umn_model_pfn p;

	if (e->flags & ME_KEPT)
		return true; /* our own migration in flight: pinned, read only */
	umn_model_lookup(model, vpn << PAGE_SHIFT_, &p);
	if (p.frame == e->frame && p.index == e->index &&
	    ((p.flags & UMN_MODEL_PFN_WRITE) || !(e->flags & ME_WRITE)))
		return true;
	fprintf(stderr,
		"umn_mirror: STALE entry at 0x%lx: device has frame %p/%u%s, "
		"primary has %p/%u flags 0x%x\n", vpn << PAGE_SHIFT_,
		(void *)e->frame, e->index, (e->flags & ME_WRITE) ? " (w)" : "",
		(void *)p.frame, p.index, p.flags);
	return false;
}

/* ---- the fault path -------------------------------------------------------- */

/*
 * mirror_range_fault - fault one chunk in and publish it (dmirror_range_fault).
 * Returns 0, or the walker's error, or -EBUSY after the timeout.
 */
static int mirror_range_fault(struct umn_mirror *m, struct umn_model *model,
			      struct umn_model_range *range)
{
	double deadline = now_ms() + UMN_MIRROR_TIMEOUT_MS;
	unsigned long npages = (range->end - range->start) >> PAGE_SHIFT_;
	int ret;

	for (;;) {
		if (now_ms() > deadline)
			return -EBUSY;

		/* 1. Sample the sequence; waits while an invalidation of
		 *    our range is running. */
		range->notifier_seq = umn_interval_read_begin(range->notifier);

		/* 2. Walk (and fault) the primary without our lock. */
		umn_mmap_read_lock(m->mm);
		ret = umn_model_range_fault(model, range);
		umn_mmap_read_unlock(m->mm);
		if (ret == -EBUSY) {
			pthread_mutex_lock(&m->lock);
			m->stats.retries++;
			pthread_mutex_unlock(&m->lock);
			continue;
		}
		if (ret)
			return ret;
		fault_delay(m);

		/* 3. Under our lock: did an invalidation start meanwhile? */
		mirror_lock(m);
		if (umn_interval_read_retry(range->notifier,
					    range->notifier_seq)) {
			m->stats.retries++;
			mirror_unlock(m);
			continue;
		}
		break;
	}

	/* 4. Publish, still under the lock: no invalidation can have
	 *    started since read_begin, and one that starts now waits. */
	for (unsigned long i = 0; i < npages && !ret; i++) {
		const struct umn_model_pfn *p = &range->pfns[i];
		unsigned int flags = 0;

		if (p->flags & UMN_MODEL_PFN_WRITE)
			flags |= ME_WRITE;
		if (p->flags & UMN_MODEL_PFN_DEVICE)
			flags |= ME_DEVICE;
		ret = pt_store(m, (range->start >> PAGE_SHIFT_) + i, p->frame,
			       p->index, flags);
	}
	mirror_unlock(m);
	return ret;
}

/*
 * mirror_fault - one fault pass over [start, end): chunk by chunk
 * (dmirror_fault).  The caller counts it.
 */
static int mirror_fault(struct umn_mirror *m, struct umn_model *model,
			unsigned long start, unsigned long end, bool write)
{
	struct umn_model_pfn pfns[UMN_MIRROR_FAULT_CHUNK];
	struct umn_model_range range = {
		.pfns = pfns,
		.default_flags = UMN_MODEL_REQ_FAULT |
				 (write ? UMN_MODEL_REQ_WRITE : 0),
		.dev_private_owner = m->device,
	};
	unsigned long addr, limit;
	int ret = 0;

	for (addr = start; addr < end && !ret; addr = range.end) {
		struct mirror_interval *iv = interval_of(m, addr, &limit);

		if (!iv)
			return -EINVAL;
		range.notifier = &iv->sub;
		range.start = addr;
		range.end = addr + UMN_MIRROR_FAULT_CHUNK * PAGE_SIZE_;
		if (range.end > end || range.end < addr)
			range.end = end;
		if (range.end > limit)
			range.end = limit;
		ret = mirror_range_fault(m, model, &range);
	}
	return ret;
}

/* ---- read and write ------------------------------------------------------- */

/* Copy [start, end) out of the device's mapping (lock held); stops with
 * -ENOENT at the first page it does not map.  *cpages counts pages. */
static int do_read(struct umn_mirror *m, struct umn_model *model,
		   unsigned long start, unsigned long end, char *bounce,
		   unsigned long *cpages)
{
	for (unsigned long a = start; a < end; a += PAGE_SIZE_) {
		struct pt_entry *e = pt_load(m, a >> PAGE_SHIFT_);

		if (!e)
			return -ENOENT;
		if (m->verify && !entry_matches(model, a >> PAGE_SHIFT_, e))
			return -EIO;
		memcpy(bounce + (a - start),
		       umn_model_frame_data(e->frame, e->index), PAGE_SIZE_);
		(*cpages)++;
	}
	return 0;
}

static int do_write(struct umn_mirror *m, struct umn_model *model,
		    unsigned long start, unsigned long end, const char *bounce,
		    unsigned long *cpages)
{
	for (unsigned long a = start; a < end; a += PAGE_SIZE_) {
		struct pt_entry *e = pt_load(m, a >> PAGE_SHIFT_);

		if (!e || !(e->flags & ME_WRITE))
			return -ENOENT;
		if (m->verify && !entry_matches(model, a >> PAGE_SHIFT_, e))
			return -EIO;
		memcpy(umn_model_frame_data(e->frame, e->index),
		       bounce + (a - start), PAGE_SIZE_);
		(*cpages)++;
	}
	return 0;
}

/* The device reads [addr, addr + npages) into cmd->ptr (dmirror_read). */
int umn_mirror_read(struct umn_mirror *m, struct umn_mirror_cmd *cmd)
{
	unsigned long start, end, cpages = 0;
	struct umn_model *model;
	char *bounce;
	int ret;

	if (cmd_range(cmd, &start, &end) || !cmd->ptr)
		return -EINVAL;
	cmd->cpages = cmd->faults = 0;
	bounce = malloc(end - start);
	if (!bounce)
		return -ENOMEM;
	model = mirror_get_model(m);
	if (!model) {
		free(bounce);
		return -EFAULT;
	}
	for (;;) {
		mirror_lock(m);
		ret = do_read(m, model, start, end,
			      bounce + (start - cmd->addr), &cpages);
		mirror_unlock(m);
		if (ret != -ENOENT)
			break;
		start = cmd->addr + (cpages << PAGE_SHIFT_);
		ret = mirror_fault(m, model, start, end, false);
		if (ret)
			break;
		cmd->faults++;
		pthread_mutex_lock(&m->lock);
		m->stats.faults++;
		pthread_mutex_unlock(&m->lock);
	}
	mirror_put_model(m);
	if (!ret)
		memcpy(cmd->ptr, bounce, end - cmd->addr);
	cmd->cpages = cpages;
	free(bounce);
	return ret;
}

/* The device writes cmd->ptr to [addr, addr + npages) (dmirror_write). */
int umn_mirror_write(struct umn_mirror *m, struct umn_mirror_cmd *cmd)
{
	unsigned long start, end, cpages = 0;
	struct umn_model *model;
	int ret;

	if (cmd_range(cmd, &start, &end) || !cmd->ptr)
		return -EINVAL;
	cmd->cpages = cmd->faults = 0;
	model = mirror_get_model(m);
	if (!model)
		return -EFAULT;
	for (;;) {
		mirror_lock(m);
		ret = do_write(m, model, start, end,
			       (const char *)cmd->ptr + (start - cmd->addr),
			       &cpages);
		mirror_unlock(m);
		if (ret != -ENOENT)
			break;
		start = cmd->addr + (cpages << PAGE_SHIFT_);
		ret = mirror_fault(m, model, start, end, true);
		if (ret)
			break;
		cmd->faults++;
		pthread_mutex_lock(&m->lock);
		m->stats.faults++;
		pthread_mutex_unlock(&m->lock);
	}
	mirror_put_model(m);
	cmd->cpages = cpages;
	return ret;
}

/* ---- migration ------------------------------------------------------------- */

/*
 * One chunk of a migration, the kernel's migrate_vma shape: setup (the
 * primary starts a MIGRATE invalidation owned by us and pins the pages),
 * pages (it copies and installs the destinations), then we remap, then
 * finalize (it frees the sources and ends the invalidation).
 */
static long migrate_chunk(struct umn_mirror *m, struct umn_model *model,
			  struct umn_model_migrate *mig)
{
	unsigned long npages = (mig->end - mig->start) >> PAGE_SHIFT_, gen;
	long done;
	int ret;

	ret = umn_model_migrate_setup(model, mig);
	if (ret)
		return ret;

	/* Our callback kept our entries; the collected ones now point at
	 * pinned sources: make them read-only until we remap. */
	mirror_lock(m);
	gen = m->gen;
	for (unsigned long i = 0; i < npages; i++) {
		struct pt_entry *e = pt_load(m, (mig->start >> PAGE_SHIFT_) + i);

		if (e && (mig->flags[i] & UMN_MODEL_MIGRATE_COLLECTED))
			e->flags = (e->flags & ~ME_WRITE) | ME_KEPT;
	}
	mirror_unlock(m);

	done = umn_model_migrate_pages(model, mig);

	mirror_lock(m);
	for (unsigned long i = 0; i < npages; i++) {
		unsigned long vpn = (mig->start >> PAGE_SHIFT_) + i;
		unsigned int f = mig->flags[i];

		if (!(f & UMN_MODEL_MIGRATE_COLLECTED))
			continue;
		if (mig->direction == UMN_MODEL_MIGRATE_TO_DEVICE &&
		    (f & UMN_MODEL_MIGRATE_DONE) && m->gen == gen) {
			/* dmirror_migrate_finalize_and_map */
			if (pt_store(m, vpn, mig->dst[i], 0, ME_DEVICE |
				     ((f & UMN_MODEL_MIGRATE_WRITE) ? ME_WRITE
								    : 0)))
				pt_erase(m, vpn);
		} else {
			/* Back to system memory, not moved, or someone else
			 * invalidated meanwhile: forget it, fault it later. */
			pt_erase(m, vpn);
		}
	}
	mirror_unlock(m);

	umn_model_migrate_finalize(model, mig);
	return done;
}

static int mirror_migrate(struct umn_mirror *m, struct umn_mirror_cmd *cmd,
			  unsigned int direction)
{
	unsigned long start, end, addr, moved = 0;
	struct umn_model_migrate *mig;
	struct umn_model *model;
	long ret = 0;

	if (cmd_range(cmd, &start, &end))
		return -EINVAL;
	cmd->cpages = cmd->faults = 0;
	mig = calloc(1, sizeof(*mig));
	if (!mig)
		return -ENOMEM;
	model = mirror_get_model(m);
	if (!model) {
		free(mig);
		return -EFAULT;
	}
	umn_mmap_read_lock(m->mm);
	for (addr = start; addr < end && ret >= 0; addr = mig->end) {
		mig->start = addr;
		mig->end = addr + UMN_MODEL_MIGRATE_MAX_PAGES * PAGE_SIZE_;
		if (mig->end > end || mig->end < addr)
			mig->end = end;
		mig->owner = m->device;
		mig->direction = direction;
		ret = migrate_chunk(m, model, mig);
		if (ret > 0)
			moved += (unsigned long)ret;
	}
	umn_mmap_read_unlock(m->mm);
	free(mig);

	if (ret >= 0 && direction == UMN_MODEL_MIGRATE_TO_DEVICE) {
		/* Return the migrated data for verification (as dmirror):
		 * -ENOENT if some page did not end up on this device. */
		char *bounce = malloc(end - start);
		unsigned long cpages = 0;

		ret = -ENOMEM;
		if (bounce) {
			mirror_lock(m);
			ret = do_read(m, model, start, end, bounce, &cpages);
			mirror_unlock(m);
			if (!ret && cmd->ptr)
				memcpy(cmd->ptr, bounce, end - start);
			free(bounce);
		}
		cmd->cpages = cpages;
	} else if (ret >= 0) {
		cmd->cpages = moved;
	}
	mirror_put_model(m);
	return ret < 0 ? (int)ret : 0;
}

int umn_mirror_migrate_to_device(struct umn_mirror *m,
				 struct umn_mirror_cmd *cmd)
{
	return mirror_migrate(m, cmd, UMN_MODEL_MIGRATE_TO_DEVICE);
}

int umn_mirror_migrate_to_system(struct umn_mirror *m,
				 struct umn_mirror_cmd *cmd)
{
	return mirror_migrate(m, cmd, UMN_MODEL_MIGRATE_TO_SYSTEM);
}

/* ---- snapshot --------------------------------------------------------------- */

/* A temporary subscription for one snapshot chunk (dmirror_snapshot). */
struct snap_sub {
	struct umn_interval_notifier sub;
	struct umn_mirror *mirror;
};

static bool snap_invalidate(struct umn_interval_notifier *sub,
			    const struct umn_notifier_range *range,
			    unsigned long cur_seq)
{
	struct snap_sub *s = (struct snap_sub *)(void *)
		((char *)sub - offsetof(struct snap_sub, sub));

	if (umn_notifier_range_blockable(range))
		pthread_mutex_lock(&s->mirror->lock);
	else if (pthread_mutex_trylock(&s->mirror->lock))
		return false;
	umn_interval_set_seq(sub, cur_seq);
	pthread_mutex_unlock(&s->mirror->lock);
	return true;
}

static const struct umn_interval_notifier_ops snap_ops = {
	.invalidate = snap_invalidate,
};

static unsigned char snap_byte(const struct umn_model_pfn *p)
{
	unsigned char b;

	if (p->flags & UMN_MODEL_PFN_ERROR)
		return UMN_MIRROR_PROT_ERROR;
	if (p->flags & UMN_MODEL_PFN_DEVICE_REMOTE)
		return UMN_MIRROR_PROT_DEV_REMOTE;
	if (!(p->flags & UMN_MODEL_PFN_VALID))
		return UMN_MIRROR_PROT_NONE;
	b = (p->flags & UMN_MODEL_PFN_WRITE) ? UMN_MIRROR_PROT_WRITE
					     : UMN_MIRROR_PROT_READ;
	if (p->flags & UMN_MODEL_PFN_ZERO)
		b |= UMN_MIRROR_PROT_ZERO;
	if (p->flags & UMN_MODEL_PFN_HUGE)
		b |= UMN_MIRROR_PROT_HUGE;
	if (p->flags & UMN_MODEL_PFN_DEVICE)
		b |= UMN_MIRROR_PROT_DEV_LOCAL;
	return b;
}

static int snapshot_chunk(struct umn_mirror *m, struct umn_model *model,
			  struct umn_model_range *range, unsigned char *out)
{
	double deadline = now_ms() + UMN_MIRROR_TIMEOUT_MS;
	unsigned long npages = (range->end - range->start) >> PAGE_SHIFT_;
	int ret;

	for (;;) {
		if (now_ms() > deadline)
			return -EBUSY;
		range->notifier_seq = umn_interval_read_begin(range->notifier);
		umn_mmap_read_lock(m->mm);
		ret = umn_model_range_fault(model, range);
		umn_mmap_read_unlock(m->mm);
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;
		pthread_mutex_lock(&m->lock);
		if (umn_interval_read_retry(range->notifier,
					    range->notifier_seq)) {
			pthread_mutex_unlock(&m->lock);
			continue;
		}
		break;
	}
	for (unsigned long i = 0; i < npages; i++)
		out[i] = snap_byte(&range->pfns[i]);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int umn_mirror_snapshot(struct umn_mirror *m, struct umn_mirror_cmd *cmd)
{
	struct umn_model_pfn pfns[UMN_MIRROR_SNAPSHOT_CHUNK];
	struct umn_model_range range = {
		.pfns = pfns,
		.default_flags = 0,            /* look, do not fault */
		.dev_private_owner = m->device,
	};
	unsigned long start, end, addr;
	struct umn_model *model;
	struct snap_sub *s;
	int ret = 0;

	if (cmd_range(cmd, &start, &end) || !cmd->ptr)
		return -EINVAL;
	cmd->cpages = cmd->faults = 0;
	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	model = mirror_get_model(m);
	if (!model) {
		free(s);
		return -EFAULT;
	}
	for (addr = start; addr < end && !ret; addr = range.end) {
		range.start = addr;
		range.end = addr + UMN_MIRROR_SNAPSHOT_CHUNK * PAGE_SIZE_;
		if (range.end > end || range.end < addr)
			range.end = end;
		memset(s, 0, sizeof(*s));
		s->mirror = m;
		ret = umn_interval_notifier_insert(&s->sub, m->mm, range.start,
						   range.end - range.start,
						   &snap_ops);
		if (ret)
			break;
		range.notifier = &s->sub;
		ret = snapshot_chunk(m, model, &range,
				     (unsigned char *)cmd->ptr +
				     ((addr - start) >> PAGE_SHIFT_));
		umn_interval_notifier_remove(&s->sub);
		if (!ret)
			cmd->cpages += (range.end - range.start) >> PAGE_SHIFT_;
	}
	mirror_put_model(m);
	free(s);
	return ret;
}

/* ---- exclusive access --------------------------------------------------------- */

/*
 * umn_mirror_exclusive - take exclusive access to the range and map it
 * "atomic" (dmirror_exclusive).  The primary's EXCLUSIVE invalidation drops
 * our entries like any other; afterwards we look at the now exclusive
 * entries with the collision-retry protocol and publish them.
 */
int umn_mirror_exclusive(struct umn_mirror *m, struct umn_mirror_cmd *cmd)
{
	double deadline = now_ms() + UMN_MIRROR_TIMEOUT_MS;
	unsigned long start, end, limit, cpages = 0;
	struct umn_model_range range = { 0 };
	struct mirror_interval *iv;
	struct umn_model *model;
	char *bounce;
	int ret;

	if (cmd_range(cmd, &start, &end))
		return -EINVAL;
	cmd->cpages = cmd->faults = 0;
	iv = interval_of(m, start, &limit);
	if (!iv || end > limit)
		return -EINVAL;
	range.pfns = calloc(cmd->npages, sizeof(*range.pfns));
	bounce = malloc(end - start);
	model = range.pfns && bounce ? mirror_get_model(m) : NULL;
	if (!model) {
		ret = range.pfns && bounce ? -EFAULT : -ENOMEM;
		goto out_free;
	}
	range.notifier = &iv->sub;
	range.start = start;
	range.end = end;
	range.dev_private_owner = m->device;
again:
	if (now_ms() > deadline) {
		ret = -EBUSY;
		goto out;
	}
	umn_mmap_read_lock(m->mm);
	ret = umn_model_make_exclusive(model, start, end, m->device, NULL);
	umn_mmap_read_unlock(m->mm);
	if (ret)
		goto out;

	range.notifier_seq = umn_interval_read_begin(&iv->sub);
	umn_mmap_read_lock(m->mm);
	ret = umn_model_range_fault(model, &range);
	umn_mmap_read_unlock(m->mm);
	if (ret == -EBUSY)
		goto again;
	if (ret)
		goto out;
	for (unsigned long i = 0; i < cmd->npages; i++)
		if (!(range.pfns[i].flags & UMN_MODEL_PFN_EXCLUSIVE) ||
		    range.pfns[i].owner != m->device)
			goto again;    /* revoked before we could map it */

	mirror_lock(m);
	if (umn_interval_read_retry(&iv->sub, range.notifier_seq)) {
		mirror_unlock(m);
		goto again;
	}
	for (unsigned long i = 0; i < cmd->npages && !ret; i++)
		ret = pt_store(m, (start >> PAGE_SHIFT_) + i,
			       range.pfns[i].frame, range.pfns[i].index,
			       ME_ATOMIC | ME_WRITE);
	if (!ret)
		ret = do_read(m, model, start, end, bounce, &cpages);
	mirror_unlock(m);
	if (!ret && cmd->ptr)
		memcpy(cmd->ptr, bounce, end - start);
	cmd->cpages = cpages;
out:
	mirror_put_model(m);
out_free:
	free(range.pfns);
	free(bounce);
	return ret;
}

int umn_mirror_check_exclusive(struct umn_mirror *m,
			       struct umn_mirror_cmd *cmd)
{
	unsigned long start, end;
	int ret = 0;

	if (cmd_range(cmd, &start, &end))
		return -EINVAL;
	mirror_lock(m);
	for (unsigned long a = start; a < end && !ret; a += PAGE_SIZE_) {
		struct pt_entry *e = pt_load(m, a >> PAGE_SHIFT_);

		if (e && (e->flags & ME_ATOMIC))
			ret = -EPERM;
	}
	mirror_unlock(m);
	return ret;
}

/* ---- verification --------------------------------------------------------------- */

int umn_mirror_verify(struct umn_mirror *m)
{
	struct umn_model *model = mirror_get_model(m);
	int ret = 0;

	mirror_lock(m);
	if (!model) {
		ret = m->stats.entries ? -EFAULT : 0;
		mirror_unlock(m);
		return ret;
	}
	for (unsigned long b = 0; b < PT_BUCKETS; b++)
		for (struct pt_entry *e = m->buckets[b]; e; e = e->next)
			if (!entry_matches(model, e->vpn, e))
				ret = -EIO;
	mirror_unlock(m);
	mirror_put_model(m);
	return ret;
}
