/* SPDX-License-Identifier: MIT */
/*
 * Private structures of the model address space (see <umn/model.h>).
 * Cross-file helpers are named umnp_model_* and stay inside libumn.
 */
#ifndef UMN_MODEL_INTERNAL_H
#define UMN_MODEL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <umn/model.h>

/* A frame: the unit of "physical" memory.  refcount counts page-table
 * entries, the page cache and in-flight migrations that hold it. */
struct umn_model_frame {
	unsigned long pfn;      /* first 4 KiB frame number */
	int refcount;           /* atomic; the zero frame is never freed */
	unsigned int order;     /* 0: 4 KiB, 9: 2 MiB */
	bool zero;              /* the shared zero frame (read only) */
	void *owner;            /* device owner, NULL for system memory */
	struct umnp_model_pool *pool; /* accounting, NULL for file pages */
	unsigned char *data;
};

/* The frame pool, shared by a model and the children it forks. */
struct umnp_model_pool {
	int refs;                    /* atomic: models using it */
	unsigned long max_frames;    /* in 4 KiB frames */
	unsigned long in_use;        /* atomic, in 4 KiB frames */
	struct umn_model_frame zero; /* the shared zero frame */
};

/* Page-table entry flags. */
#define UMNP_PTE_WRITE     0x1u
#define UMNP_PTE_YOUNG     0x2u
#define UMNP_PTE_DIRTY     0x4u
#define UMNP_PTE_EXCL      0x8u  /* exclusive device entry, see excl_owner */
#define UMNP_PTE_MIGRATING 0x10u /* migration entry: frame is the source */

/* One entry; frame == NULL means none.  Guarded by the model's ptl. */
struct umnp_pte {
	struct umn_model_frame *frame;
	unsigned int flags;
	void *excl_owner;
};

/* One 2 MiB slot of the address window: a huge entry or a pte table. */
struct umnp_pmd {
	struct umnp_pte huge;  /* used by MAP_HUGE regions */
	struct umnp_pte *ptes; /* UMN_MODEL_HUGE_PAGES entries, lazily */
};

#define UMNP_NR_PMDS (UMN_MODEL_VA_SIZE >> UMN_MODEL_HUGE_SHIFT)

/* A region (VMA).  The list is guarded by the mmap lock. */
struct umnp_region {
	struct umnp_region *next;     /* sorted by start */
	unsigned long start, end;     /* [start, end) */
	int prot;                     /* UMN_MODEL_PROT_* */
	int flags;                    /* UMN_MODEL_MAP_* (without FIXED) */
	struct umn_model_file *file;  /* SHARED: the object mapped */
	unsigned long pgoff;          /* file page of start */
};

struct umn_model {
	unsigned int magic;           /* tells umn_model_from_mm() it is ours */
	struct umn_mm *mm;
	struct umnp_model_pool *pool;
	pthread_mutex_t ptl;          /* the page-table lock */
	struct umnp_region *regions;  /* under the mmap lock */
	struct umnp_pmd *pmds;        /* UMNP_NR_PMDS, under the ptl */
};

struct umn_model_file {
	int refs;                       /* atomic */
	pthread_mutex_t lock;           /* the page cache */
	unsigned long npages;
	struct umn_model_frame **pages; /* lazily allocated, zero filled */
	bool anon;                      /* anonymous shared object */
};

/* Frames freed only after invalidate_range_end (kernel: mmu_gather). */
struct umnp_gather {
	struct umn_model_frame **frames;
	unsigned long nr, cap;
};

/* frame.c */
struct umnp_model_pool *umnp_model_pool_new(unsigned long max_frames);
void umnp_model_pool_get(struct umnp_model_pool *pool);
void umnp_model_pool_put(struct umnp_model_pool *pool);
struct umn_model_frame *umnp_model_frame_alloc(struct umnp_model_pool *pool,
					       unsigned int order, void *owner,
					       const void *copy_from);
void umnp_model_frame_get(struct umn_model_frame *frame);
void umnp_model_frame_put(struct umn_model_frame *frame);
int umnp_model_frame_refs(const struct umn_model_frame *frame);
struct umn_model_frame *umnp_model_file_page(struct umn_model_file *file,
					     unsigned long pgoff);
void umnp_model_file_get(struct umn_model_file *file);
void umnp_model_gather_add(struct umnp_gather *g, struct umn_model_frame *f);
void umnp_model_gather_free(struct umnp_gather *g);

/* model.c */
struct umnp_region *umnp_model_find_region(struct umn_model *model,
					   unsigned long addr);
struct umnp_pte *umnp_model_pte(struct umn_model *model,
				const struct umnp_region *region,
				unsigned long addr, bool alloc,
				unsigned int *index);
void umnp_model_zap_locked(struct umn_model *model,
			   const struct umnp_region *region,
			   unsigned long start, unsigned long end,
			   bool private_only, struct umnp_gather *gather);

/* fault.c */
int umnp_model_fault(struct umn_model *model, unsigned long addr, bool write);

#endif /* UMN_MODEL_INTERNAL_H */
