/* SPDX-License-Identifier: MIT */
/*
 * libumn.so: libcapstone is opened at the first site discovery (the first
 * umn_mm_self() with the patch source), not at program start.  Its name
 * is the soname libumn was built against (UMN_CAPSTONE_SONAME), or
 * $UMN_SELF_CAPSTONE (a name or a path) when set.  RTLD_NOW: every symbol
 * is bound here, in normal context, so no lazy binding runs later from the
 * safety net's signal handler.  Never closed (decoding may run at any
 * later dlopen).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "capstone_load.h"

#ifndef UMN_CAPSTONE_SONAME
#define UMN_CAPSTONE_SONAME "libcapstone.so.4"
#endif

int umnp_self_capstone_load(struct umnp_capstone *cs, char *why, size_t n)
{
	const char *name = getenv("UMN_SELF_CAPSTONE");
	void *h;

	if (!name || !*name)
		name = UMN_CAPSTONE_SONAME;
	h = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!h) {
		const char *e = dlerror();

		snprintf(why, n, "%s", e ? e : name);
		return -ENOTSUP;
	}
	cs->open = (cs_err (*)(cs_arch, cs_mode, csh *))dlsym(h, "cs_open");
	cs->close = (cs_err (*)(csh *))dlsym(h, "cs_close");
	cs->insn_alloc = (cs_insn *(*)(csh))dlsym(h, "cs_malloc");
	cs->disasm_iter = (bool (*)(csh, const uint8_t **, size_t *,
				    uint64_t *, cs_insn *))
		dlsym(h, "cs_disasm_iter");
	if (!cs->open || !cs->close || !cs->insn_alloc || !cs->disasm_iter) {
		snprintf(why, n, "%s lacks cs_disasm_iter (Capstone < 4?)",
			 name);
		return -ENOTSUP;
	}
	return 0;
}
