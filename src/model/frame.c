/* SPDX-License-Identifier: MIT */
/*
 * Frames, the frame pool, and files (page caches) of the model address space.
 *
 * A frame is 4 KiB or 2 MiB of "physical" memory with a reference count.
 * Page-table entries, a file's page cache and in-flight migrations hold
 * references; the last put frees the memory.  The pool only accounts: its
 * frames are allocated lazily (calloc) so a pool of thousands costs what is
 * mapped.  The shared zero frame belongs to the pool and is never freed
 * before it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "model/internal.h"

/* Frame numbers are unique in the process (they are only names). */
static unsigned long umnp_next_pfn = 1;

static unsigned long frame_pages(unsigned int order)
{
	return 1UL << order;
}

struct umnp_model_pool *umnp_model_pool_new(unsigned long max_frames)
{
	struct umnp_model_pool *pool = umnp_calloc(1, sizeof(*pool));

	if (!pool)
		return NULL;
	pool->zero.data = umnp_calloc(1, UMN_MODEL_PAGE_SIZE);
	if (!pool->zero.data) {
		umnp_free(pool);
		return NULL;
	}
	pool->refs = 1;
	pool->max_frames = max_frames ? max_frames : UMN_MODEL_DEFAULT_FRAMES;
	pool->zero.zero = true;
	pool->zero.refcount = 1;
	pool->zero.pfn = __atomic_fetch_add(&umnp_next_pfn, 1, __ATOMIC_RELAXED);
	return pool;
}

void umnp_model_pool_get(struct umnp_model_pool *pool)
{
	__atomic_fetch_add(&pool->refs, 1, __ATOMIC_RELAXED);
}

void umnp_model_pool_put(struct umnp_model_pool *pool)
{
	if (__atomic_sub_fetch(&pool->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	umnp_free(pool->zero.data);
	umnp_free(pool);
}

/*
 * umnp_model_frame_alloc - a new frame with one reference, zero filled or a
 * copy of copy_from (a whole frame of the same order).  pool NULL: a page
 * cache frame (not accounted).  Returns NULL when the pool is exhausted.
 */
struct umn_model_frame *umnp_model_frame_alloc(struct umnp_model_pool *pool,
					       unsigned int order, void *owner,
					       const void *copy_from)
{
	unsigned long n = frame_pages(order);
	struct umn_model_frame *f;

	if (pool) {
		unsigned long used = __atomic_add_fetch(&pool->in_use, n,
							__ATOMIC_RELAXED);
		if (used > pool->max_frames) {
			__atomic_sub_fetch(&pool->in_use, n, __ATOMIC_RELAXED);
			return NULL;
		}
	}
	f = umnp_calloc(1, sizeof(*f));
	if (f)
		f->data = copy_from ? umnp_malloc(n * UMN_MODEL_PAGE_SIZE)
				    : umnp_calloc(n, UMN_MODEL_PAGE_SIZE);
	if (!f || !f->data) {
		umnp_free(f);
		if (pool)
			__atomic_sub_fetch(&pool->in_use, n, __ATOMIC_RELAXED);
		return NULL;
	}
	if (copy_from)
		memcpy(f->data, copy_from, n * UMN_MODEL_PAGE_SIZE);
	f->pfn = __atomic_fetch_add(&umnp_next_pfn, n, __ATOMIC_RELAXED);
	f->refcount = 1;
	f->order = order;
	f->owner = owner;
	f->pool = pool;
	return f;
}

void umnp_model_frame_get(struct umn_model_frame *frame)
{
	if (!frame->zero)
		__atomic_fetch_add(&frame->refcount, 1, __ATOMIC_RELAXED);
}

void umnp_model_frame_put(struct umn_model_frame *frame)
{
	if (frame->zero)
		return;
	if (__atomic_sub_fetch(&frame->refcount, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (frame->pool)
		__atomic_sub_fetch(&frame->pool->in_use,
				   frame_pages(frame->order), __ATOMIC_RELAXED);
	/* Poison: a secondary MMU reading a freed frame sees garbage (and
	 * ASan reports the use after free). */
	memset(frame->data, 0x6b, frame_pages(frame->order) * UMN_MODEL_PAGE_SIZE);
	umnp_free(frame->data);
	umnp_free(frame);
}

int umnp_model_frame_refs(const struct umn_model_frame *frame)
{
	return __atomic_load_n(&frame->refcount, __ATOMIC_ACQUIRE);
}

void *umn_model_frame_data(const struct umn_model_frame *frame,
			   unsigned int index)
{
	return frame->data + (size_t)index * UMN_MODEL_PAGE_SIZE;
}

void *umn_model_frame_owner(const struct umn_model_frame *frame)
{
	return frame->owner;
}

void umnp_model_gather_add(struct umnp_gather *g, struct umn_model_frame *f)
{
	if (g->nr == g->cap) {
		unsigned long cap = g->cap ? 2 * g->cap : 64;
		struct umn_model_frame **n = umnp_realloc(g->frames, cap * sizeof(*n));

		if (!n) {
			/* Out of memory for the batch: the invalidation has
			 * started, so nobody can map f any more; free now. */
			umnp_model_frame_put(f);
			return;
		}
		g->frames = n;
		g->cap = cap;
	}
	g->frames[g->nr++] = f;
}

/* After invalidate_range_end: drop the references the zap collected. */
void umnp_model_gather_free(struct umnp_gather *g)
{
	for (unsigned long i = 0; i < g->nr; i++)
		umnp_model_frame_put(g->frames[i]);
	umnp_free(g->frames);
	g->frames = NULL;
	g->nr = g->cap = 0;
}

/* ---- files --------------------------------------------------------------- */

struct umn_model_file *umn_model_file_new(size_t size)
{
	struct umn_model_file *file;

	if (size == 0) {
		errno = EINVAL;
		return NULL;
	}
	file = umnp_calloc(1, sizeof(*file));
	if (!file)
		goto nomem;
	file->npages = (size + UMN_MODEL_PAGE_SIZE - 1) >> UMN_MODEL_PAGE_SHIFT;
	file->pages = umnp_calloc(file->npages, sizeof(*file->pages));
	if (!file->pages) {
		umnp_free(file);
		goto nomem;
	}
	pthread_mutex_init(&file->lock, NULL);
	file->refs = 1;
	return file;
nomem:
	errno = ENOMEM;
	return NULL;
}

void umnp_model_file_get(struct umn_model_file *file)
{
	__atomic_fetch_add(&file->refs, 1, __ATOMIC_RELAXED);
}

void umn_model_file_put(struct umn_model_file *file)
{
	if (!file || __atomic_sub_fetch(&file->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (unsigned long i = 0; i < file->npages; i++)
		if (file->pages[i])
			umnp_model_frame_put(file->pages[i]);
	pthread_mutex_destroy(&file->lock);
	umnp_free(file->pages);
	umnp_free(file);
}

/* Page pgoff of the file's page cache, allocated on first use.  Returns it
 * with a reference for the caller, or NULL (beyond the end, no memory). */
struct umn_model_frame *umnp_model_file_page(struct umn_model_file *file,
					     unsigned long pgoff)
{
	struct umn_model_frame *f = NULL;

	if (pgoff >= file->npages)
		return NULL;
	pthread_mutex_lock(&file->lock);
	if (!file->pages[pgoff])
		file->pages[pgoff] = umnp_model_frame_alloc(NULL, 0, NULL, NULL);
	f = file->pages[pgoff];
	if (f)
		umnp_model_frame_get(f);
	pthread_mutex_unlock(&file->lock);
	return f;
}

static long file_rw(struct umn_model_file *file, size_t off, void *buf,
		    size_t len, bool write)
{
	size_t size, done = 0;

	if (!file || !buf)
		return -EINVAL;
	size = file->npages * UMN_MODEL_PAGE_SIZE;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = size - off;
	while (done < len) {
		unsigned long pgoff = (off + done) >> UMN_MODEL_PAGE_SHIFT;
		size_t in = (off + done) & (UMN_MODEL_PAGE_SIZE - 1);
		size_t n = UMN_MODEL_PAGE_SIZE - in;
		struct umn_model_frame *f = umnp_model_file_page(file, pgoff);

		if (!f)
			return done ? (long)done : -ENOMEM;
		if (n > len - done)
			n = len - done;
		pthread_mutex_lock(&file->lock);
		if (write)
			memcpy(f->data + in, (char *)buf + done, n);
		else
			memcpy((char *)buf + done, f->data + in, n);
		pthread_mutex_unlock(&file->lock);
		umnp_model_frame_put(f);
		done += n;
	}
	return (long)done;
}

long umn_model_file_read(struct umn_model_file *file, size_t off, void *buf,
			 size_t len)
{
	return file_rw(file, off, buf, len, false);
}

long umn_model_file_write(struct umn_model_file *file, size_t off,
			  const void *buf, size_t len)
{
	return file_rw(file, off, (void *)buf, len, true);
}
