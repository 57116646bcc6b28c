/* SPDX-License-Identifier: MIT */
/*
 * The few Capstone entry points site discovery uses (discover.c), found at
 * run time.  libumn.so loads libcapstone only when discovery first needs
 * it (capstone_dl.c: dlopen, so a program that links libumn but never calls
 * umn_mm_self() does not pay for relocating it, and libumn still loads
 * where libcapstone is absent); libumn.a takes them from the link
 * (capstone_static.c: a static program has no loader to dlopen with).
 */
#ifndef UMN_SRC_SELF_CAPSTONE_LOAD_H
#define UMN_SRC_SELF_CAPSTONE_LOAD_H

#include <stddef.h>
#include <capstone/capstone.h>

struct umnp_capstone {
	cs_err (*open)(cs_arch arch, cs_mode mode, csh *handle);
	cs_err (*close)(csh *handle);
	cs_insn *(*insn_alloc)(csh handle);
	bool (*disasm_iter)(csh handle, const uint8_t **code, size_t *size,
			    uint64_t *address, cs_insn *insn);
};

/*
 * Fill *cs.  Normal context (dlopen), discovery lock held, called once.
 * 0, or -ENOTSUP with why (size n) saying what is missing.
 */
int umnp_self_capstone_load(struct umnp_capstone *cs, char *why, size_t n);

#endif /* UMN_SRC_SELF_CAPSTONE_LOAD_H */
