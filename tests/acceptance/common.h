/* SPDX-License-Identifier: MIT */
/*
 * Shared setup of the acceptance scenarios: a model address space, mirrors
 * over the whole model window, and the checks every scenario makes (bytes
 * the device read equal what the primary holds; no stale device entry).
 */
#ifndef UMN_ACCEPTANCE_COMMON_H
#define UMN_ACCEPTANCE_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <umn/umn.h>
#include "harness.h"
#include "mirror.h"

#define PAGE UMN_MODEL_PAGE_SIZE
#define NPAGES 1024UL /* the kernel's HMM_BUFFER_SIZE in 4 KiB pages */
#define NTIMES 10

/* A mirror of the whole model window (dmirror mirrors the whole mm). */
struct umn_mirror *mirror_open(struct umn_model *model, void *device);

/* Map len bytes anywhere; CHECKs success. */
unsigned long map(struct umn_model *model, size_t len, int prot, int flags);

/* An int array of npages pages with a[i] = i * sign + c. */
int *ints(unsigned long npages, int sign, int c);

/* CHECK that the primary holds buf at [addr, addr + len) now. */
void check_primary(struct umn_model *model, unsigned long addr,
		   const void *buf, size_t len);

/* CHECK that every int of buf is i * sign + c. */
void check_ints(const int *buf, unsigned long npages, int sign, int c);

/* CHECK that the mirror holds no entry that differs from the primary. */
void check_mirror(struct umn_mirror *m);

/* Device operation helpers: fill a cmd and run op. */
typedef int (*mirror_op)(struct umn_mirror *, struct umn_mirror_cmd *);
int dev(mirror_op op, struct umn_mirror *m, unsigned long addr, void *ptr,
	unsigned long npages, struct umn_mirror_cmd *cmd);

#endif
