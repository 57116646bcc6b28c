/* SPDX-License-Identifier: MIT */
/*
 * Pieces of the two assembly entries of hooked system-call sites (x86-64),
 * as string macros for top-level __asm__: patch.c's umnp_self_sysentry
 * (libc's wrappers, on the caller's stack) and stack.c's
 * umnp_self_sysentry_ext (discovered sites, on a stack of umn's).  Both
 * are entered with rax = the system call number, rdi rsi rdx r10 r8 r9 =
 * its arguments and r11 = the site's struct umnp_site_rec.
 */
#ifndef UMN_SRC_SELF_ENTRY_ASM_H
#define UMN_SRC_SELF_ENTRY_ASM_H

#include <sys/syscall.h>

#define UMNP_ASM_STR_(x) #x
#define UMNP_ASM_STR(x) UMNP_ASM_STR_(x)

/* A hidden function: its header (with the IBT landing pad) and its end. */
#define UMNP_ASM_FUNC_BEGIN(name)                                            \
	".text\n"                                                            \
	".globl " #name "\n"                                                 \
	".hidden " #name "\n"                                                \
	".type " #name ",@function\n"                                        \
	".p2align 4\n"                                                       \
	#name ":\n"                                                          \
	"	endbr64\n"
#define UMNP_ASM_FUNC_END(name) ".size " #name ",.-" #name "\n"

/* Jump to local label 1 if rax is system call nr (a SYS_ name). */
#define UMNP_ASM_IF_NR(nr) "	cmp $" UMNP_ASM_STR(nr) ",%rax\n	je 1f\n"

/*
 * ... if rax is one of the map-changing calls (umnp_self_nr_interesting()'s
 * list).  Both entries take them all: libc's syscall() reaches patch.c's
 * entry with any number, pkey_mprotect and remap_file_pages included.
 */
#define UMNP_ASM_IF_MAP_NR                                                   \
	UMNP_ASM_IF_NR(SYS_mmap)                                             \
	UMNP_ASM_IF_NR(SYS_mprotect)                                         \
	UMNP_ASM_IF_NR(SYS_munmap)                                           \
	UMNP_ASM_IF_NR(SYS_brk)                                              \
	UMNP_ASM_IF_NR(SYS_mremap)                                           \
	UMNP_ASM_IF_NR(SYS_madvise)                                          \
	UMNP_ASM_IF_NR(SYS_shmat)                                            \
	UMNP_ASM_IF_NR(SYS_shmdt)                                            \
	UMNP_ASM_IF_NR(SYS_process_madvise)                                  \
	UMNP_ASM_IF_NR(SYS_pkey_mprotect)                                    \
	UMNP_ASM_IF_NR(SYS_remap_file_pages)

/*
 * Save the six argument registers and r11 (the site record) on the stack,
 * and restore them in the opposite order: what the C hook may clobber and
 * the code after the original `syscall` may still read.
 */
#define UMNP_ASM_SAVE_ARGS                                                   \
	"	push %rdi\n"                                                 \
	"	push %rsi\n"                                                 \
	"	push %rdx\n"                                                 \
	"	push %r10\n"                                                 \
	"	push %r8\n"                                                  \
	"	push %r9\n"                                                  \
	"	push %r11\n"
#define UMNP_ASM_RESTORE_ARGS                                                \
	"	pop %r11\n"                                                  \
	"	pop %r9\n"                                                   \
	"	pop %r8\n"                                                   \
	"	pop %r10\n"                                                  \
	"	pop %rdx\n"                                                  \
	"	pop %rsi\n"                                                  \
	"	pop %rdi\n"

#endif /* UMN_SRC_SELF_ENTRY_ASM_H */
