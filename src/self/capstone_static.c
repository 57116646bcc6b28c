/* SPDX-License-Identifier: MIT */
/*
 * libumn.a: Capstone comes from the link (-lcapstone, umn.pc's
 * Libs.private): a static program has no libcapstone.so to open.
 */
#include "capstone_load.h"

int umnp_self_capstone_load(struct umnp_capstone *cs, char *why, size_t n)
{
	(void)why;
	(void)n;
	cs->open = cs_open;
	cs->close = cs_close;
	cs->insn_alloc = cs_malloc;
	cs->disasm_iter = cs_disasm_iter;
	return 0;
}
