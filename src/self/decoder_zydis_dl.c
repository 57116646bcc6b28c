/* SPDX-License-Identifier: MIT */
/*
 * libumn.so's decoder (decoder.h): Zydis, opened at the first site
 * discovery (the first umn_mm_self() with the patch source), not at
 * program start.  Its name is the soname libumn was built against
 * (UMN_ZYDIS_SONAME), or $UMN_SELF_DECODER (a name or a path) when set;
 * $UMN_SELF_CAPSTONE, the name before Zydis, is read when UMN_SELF_DECODER
 * is not set.  RTLD_NOW: every symbol is bound here, in normal context, so
 * no lazy binding runs later from the safety net's signal handler.  Never
 * closed (decoding may run at any later dlopen).  Only the decoder is
 * used: no formatter, no operands.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <Zydis/Decoder.h>
#include "decoder.h"

#ifndef UMN_ZYDIS_SONAME
#define UMN_ZYDIS_SONAME "libZydis.so.4.0"
#endif

static ZyanStatus (*zy_init)(ZydisDecoder *decoder, ZydisMachineMode mode,
			     ZydisStackWidth width);
static ZyanStatus (*zy_decode)(const ZydisDecoder *decoder,
			       ZydisDecoderContext *context,
			       const void *buffer, ZyanUSize length,
			       ZydisDecodedInstruction *instruction);
static ZydisDecoder zy_decoder;
/* Callers are serialized by the discovery lock: one is enough, and it is
 * kept off the caller's stack (a few hundred bytes). */
static ZydisDecodedInstruction zy_insn;

const char *umnp_self_decoder_name(void)
{
	const char *name = getenv("UMN_SELF_DECODER");

	if (!name || !*name)
		name = getenv("UMN_SELF_CAPSTONE");
	if (!name || !*name)
		name = UMN_ZYDIS_SONAME;
	return name;
}

int umnp_self_decoder_load(char *why, size_t n)
{
	const char *name = umnp_self_decoder_name();
	void *h;

	h = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!h) {
		const char *e = dlerror();

		snprintf(why, n, "%s", e ? e : name);
		return -ENOTSUP;
	}
	*(void **)&zy_init = dlsym(h, "ZydisDecoderInit");
	*(void **)&zy_decode = dlsym(h, "ZydisDecoderDecodeInstruction");
	if (!zy_init || !zy_decode) {
		snprintf(why, n,
			 "%s lacks ZydisDecoderDecodeInstruction (Zydis < 4?)",
			 name);
		return -ENOTSUP;
	}
	if (!ZYAN_SUCCESS(zy_init(&zy_decoder, ZYDIS_MACHINE_MODE_LONG_64,
				  ZYDIS_STACK_WIDTH_64))) {
		snprintf(why, n, "ZydisDecoderInit failed");
		return -ENOTSUP;
	}
	return 0;
}

size_t umnp_self_decode_len(const uint8_t *p, size_t left)
{
	if (!ZYAN_SUCCESS(zy_decode(&zy_decoder, NULL, p, left, &zy_insn)))
		return 0;
	return zy_insn.length;
}
