/* SPDX-License-Identifier: MIT */
/*
 * Coexistence with UCX's memory hooks (ucm, bistro mode: it also writes a
 * jump over libc's entry points).  Whichever installs first, both UCX's
 * VM_UNMAPPED handler and a umn subscription must see the program's munmap
 * and glibc's internal munmap (free of a large block), each before the
 * memory is gone, and the program keeps working.
 * argv[1]: "ucx-first" (linked with libucm, whose hooks are in place
 * before main) or "umn-first" (built with UMN_TEST_UCX_DLOPEN: libucm is
 * loaded after umn has patched libc).  Exit 77 if UCX's hooks do not
 * install here.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucm/api/ucm.h>
#include <umn/notifier.h>
#include <umn/self.h>
#include "harness.h"
#include "self_common.h"

#define LARGE (33ul << 20)

static unsigned long lo, hi;
/* volatile: changed inside munmap/free, which glibc declares leaf */
static volatile int ucx_seen, umn_seen;

static bool mapped(void *p)
{
	unsigned char v;

	return mincore((void *)((unsigned long)p & ~4095ul), 4096, &v) == 0;
}

static void ucx_cb(ucm_event_type_t type, ucm_event_t *ev, void *arg)
{
	unsigned long s = (unsigned long)ev->vm_unmapped.address;
	unsigned long e = s + ev->vm_unmapped.size;

	(void)arg;
	if (type == UCM_EVENT_VM_UNMAPPED && s < hi && e > lo) {
		CHECK(mapped((void *)lo));
		ucx_seen++;
	}
}

static int umn_cb(struct umn_notifier *sub, const struct umn_notifier_range *r)
{
	(void)sub;
	if (r->start < hi && r->end > lo && r->event == UMN_NOTIFY_UNMAP) {
		CHECK(mapped((void *)lo));
		umn_seen++;
	}
	return 0;
}

static const struct umn_notifier_ops ops = { .invalidate_range_start = umn_cb };

static void watch(void *p, size_t len)
{
	lo = (unsigned long)p;
	hi = lo + len;
	ucx_seen = umn_seen = 0;
}

#ifdef UMN_TEST_UCX_DLOPEN
static ucs_status_t (*set_handler)(int, int, ucm_event_callback_t, void *);
static void (*unset_handler)(int, ucm_event_callback_t, void *);
#else
#define set_handler ucm_set_event_handler
#define unset_handler ucm_unset_event_handler
#endif

static int install_ucx(void)
{
	ucs_status_t st;

#ifdef UMN_TEST_UCX_DLOPEN
	void *h = dlopen("libucs.so.0", RTLD_NOW | RTLD_GLOBAL) ?
		  dlopen("libucm.so.0", RTLD_NOW | RTLD_GLOBAL) : NULL;

	if (!h) {
		printf("# skip: %s\n", dlerror());
		return -1;
	}
	set_handler = (ucs_status_t (*)(int, int, ucm_event_callback_t,
					void *))dlsym(h, "ucm_set_event_handler");
	unset_handler = (void (*)(int, ucm_event_callback_t, void *))dlsym(
		h, "ucm_unset_event_handler");
	CHECK(set_handler && unset_handler);
#endif
	st = set_handler(UCM_EVENT_VM_UNMAPPED, 0, ucx_cb, NULL);

	if (st != UCS_OK) {
		printf("# skip: UCX memory hooks did not install (%d)\n", (int)st);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	bool ucx_first = argc > 1 && strcmp(argv[1], "ucx-first") == 0;

	if (umn_self_sources() && ucx_first)
		fprintf(stderr, "# note: umn initialised before main\n");
	struct umn_notifier sub = { .ops = &ops };
	struct umn_mm *mm;
	char *p;

	if (SELF_SANITIZER) {
		printf("# skip: UCX's hooks and a sanitizer's interceptors "
		       "both replace malloc/mmap\n");
		return T_SKIP;
	}
	if (ucx_first && install_ucx())
		return T_SKIP;
	mm = umn_mm_self();
	CHECK(mm != NULL);
	if (!(umn_self_sources() & UMN_SELF_PATCH)) {
		printf("# skip: patch source not active\n");
		return T_SKIP;
	}
	if (!ucx_first && install_ucx())
		return T_SKIP;
	CHECK_EQ(umn_notifier_register(&sub, mm), 0);

	for (int i = 0; i < 20; i++) {
		p = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(p != MAP_FAILED);
		p[0] = 1;
		watch(p, 8192);
		CHECK_EQ(munmap(p, 8192), 0);
		CHECK(ucx_seen >= 1);
		CHECK(umn_seen >= 1);

		p = malloc(LARGE);
		CHECK(p != NULL);
		p[0] = 1;
		watch(p, LARGE);
		free(p);
		CHECK(ucx_seen >= 1);
		CHECK(umn_seen >= 1);
	}
	printf("# %s: both saw munmap and free(large)\n",
	       ucx_first ? "ucx-first" : "umn-first");
	CHECK_EQ(umn_notifier_unregister(&sub, mm), 0);
	unset_handler(UCM_EVENT_VM_UNMAPPED, ucx_cb, NULL);
	return 0;
}
