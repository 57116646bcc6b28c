/* SPDX-License-Identifier: MIT */
/*
 * A fixed-number site whose first byte is the last byte of a 16-byte
 * block (`mov $SYS_munmap,%eax` at offset 15, its other 4 bytes in the
 * next block): site discovery patches it (int3 first, then the rest, then
 * the first byte) and the inline munmap is reported before it runs.
 */
#define SELF_LOG
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

long off15_munmap(void *addr, long len);
extern const unsigned char off15_site[];
__asm__(".text\n"
	".p2align 4\n"
	".globl off15_munmap\n"
	".type off15_munmap,@function\n"
	"off15_munmap:\n"
	"	.skip 15, 0x90\n"         /* nops */
	".globl off15_site\n"
	"off15_site:\n"
	"	mov $11,%eax\n"           /* SYS_munmap, at offset 15 */
	"	syscall\n"
	"	ret\n"
	".size off15_munmap,.-off15_munmap\n");

/* The site's first byte, read from memory every time: off15_site is const
 * to the compiler, which may otherwise keep the byte read before the patch
 * (Release builds did). */
static unsigned char site_byte(void)
{
	return *(const volatile unsigned char *)off15_site;
}

int main(void)
{
	struct umn_notifier sub = { .ops = &log_ops };
	long page = sysconf(_SC_PAGESIZE);
	struct umn_mm *mm;

	alarm(30);
	CHECK_EQ((uintptr_t)off15_site & 15, 15u);
	CHECK_EQ(site_byte(), 0xb8);
	mm = umn_mm_self();
	CHECK(mm != NULL);
	if (!(umn_self_sources() & UMN_SELF_PATCH)) {
		printf("SKIP: the patch source is not active\n");
		return 77;
	}
	CHECK_EQ(site_byte(), 0xe9); /* now a jump */
	CHECK_EQ(umn_notifier_register(&sub, mm), 0);
	for (int i = 0; i < 4; i++) {
		char *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		unsigned long a = (unsigned long)p;
		const struct log_ev *l;

		CHECK(p != MAP_FAILED);
		p[0] = 1;
		log_reset();
		CHECK_EQ(off15_munmap(p, page), 0);
		l = log_find(UMN_NOTIFY_UNMAP, a, a + (unsigned long)page);
		CHECK(l != NULL);
		CHECK(l->mapped);
	}
	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	printf("ok - patch_offset15\n");
	return 0;
}
