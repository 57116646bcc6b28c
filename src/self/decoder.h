/* SPDX-License-Identifier: MIT */
/*
 * The instruction decoder site discovery uses (discover.c): the length of
 * one x86-64 instruction, nothing else (discovery reads the bytes of the
 * few shapes it knows itself).  Two implementations, one per library:
 *
 * - libumn.so: Zydis (decoder_zydis_dl.c), opened with dlopen at the first
 *   discovery, so a program that links libumn but never calls
 *   umn_mm_self() does not pay for loading it, and libumn still loads
 *   where libZydis is absent.  Zydis is x86 only and small to load (2,652
 *   relocations against libcapstone's 77,403: doc/sources.md).
 * - libumn.a: Capstone from the link (decoder_capstone_static.c): a static
 *   program has no loader to open a library with, and Debian 12 ships
 *   Capstone's static archive (libcapstone.a) but not Zydis's.
 *
 * Both decode into state made once at load; decoding neither allocates nor
 * makes a system call.  Callers hold the discovery lock.
 */
#ifndef UMN_SRC_SELF_DECODER_H
#define UMN_SRC_SELF_DECODER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Load the decoder and make its state.  Normal context (may dlopen and
 * allocate), discovery lock held, called once.  0, or -ENOTSUP / -ENOMEM
 * with why (size n) saying what is missing.
 */
int umnp_self_decoder_load(char *why, size_t n);

/*
 * The decoder's name as umnp_self_decoder_load() would open it (a file
 * name, or a fixed name when linked in).  Any context; a static string
 * or the environment's.
 */
const char *umnp_self_decoder_name(void);

/*
 * The length of the instruction at p, reading at most left bytes; 0 if
 * it does not decode (bad or cut by left).  Only after a successful
 * umnp_self_decoder_load(); discovery lock held; any context.
 */
size_t umnp_self_decode_len(const uint8_t *p, size_t left);

#endif /* UMN_SRC_SELF_DECODER_H */
