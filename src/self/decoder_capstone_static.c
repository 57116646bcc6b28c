/* SPDX-License-Identifier: MIT */
/*
 * libumn.a's decoder (decoder.h): Capstone from the link (-lcapstone,
 * umn.pc's Libs.private).  A static program has no loader to open a
 * decoder with, and Debian 12 ships libcapstone.a but no static Zydis.
 * cs_open and cs_malloc allocate, once, here; cs_disasm_iter into the
 * preallocated instruction does not.
 */
#include <errno.h>
#include <stdio.h>
#include <capstone/capstone.h>
#include "decoder.h"

static csh cs_handle;
static cs_insn *cs_insn_buf;

const char *umnp_self_decoder_name(void)
{
	return "capstone (linked in)";
}

int umnp_self_decoder_load(char *why, size_t n)
{
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs_handle) != CS_ERR_OK) {
		snprintf(why, n, "cs_open failed");
		return -ENOTSUP;
	}
	cs_insn_buf = cs_malloc(cs_handle);
	if (!cs_insn_buf) {
		cs_close(&cs_handle);
		snprintf(why, n, "cs_malloc failed");
		return -ENOMEM;
	}
	return 0;
}

size_t umnp_self_decode_len(const uint8_t *p, size_t left)
{
	const uint8_t *code = p;
	uint64_t addr = (uintptr_t)p;

	if (!cs_disasm_iter(cs_handle, &code, &left, &addr, cs_insn_buf))
		return 0;
	return cs_insn_buf->size;
}
