/* SPDX-License-Identifier: MIT */
/*
 * Driven by site_cache.sh (the site cache, src/self/sitecache.c): starts
 * umn, subscribes to the whole address space, maps a page and unmaps it
 * through an inline `mov $11,%eax; syscall` of this executable (a site only
 * discovery, or the cache, patches), then prints
 *   decoder: loaded|not loaded     (libZydis in this process or not)
 *   unmap: seen|missed             (an invalidation covered the page)
 * and exits 1 if umn did not start or the unmap was missed.  With an
 * argument, it then dlopens that library (one the cache has not seen: the
 * decoder is loaded from inside the loader's own patched mmap) and prints
 *   dlopen: ok|failed
 *   decoder after dlopen: loaded|not loaded
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <umn/notifier.h>
#include <umn/self.h>

static unsigned long lo, hi;
static int seen;

static int on_start(struct umn_notifier *sub,
		    const struct umn_notifier_range *range)
{
	(void)sub;
	if (range->start <= lo && range->end >= hi)
		__atomic_store_n(&seen, 1, __ATOMIC_RELAXED);
	return 0;
}

static const struct umn_notifier_ops ops = {
	.invalidate_range_start = on_start,
};
static struct umn_notifier sub = { .ops = &ops };

/* The site: its own function (a symbol and an FDE), aligned as
 * tests/tool/progs/inline_sys.h explains. */
__attribute__((noinline)) static long site_munmap(void *a, unsigned long n)
{
	long r;

	__asm__ volatile(".p2align 4\n\tmov $11,%%eax\n\tsyscall"
			 : "=a"(r) : "D"(a), "S"(n) : "rcx", "r11", "memory");
	return r;
}

static int find_decoder(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	return info->dlpi_name && strstr(info->dlpi_name, "libZydis") ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct umn_mm *mm = umn_mm_self();
	long page = sysconf(_SC_PAGESIZE);
	char *p;

	if (!mm || !(umn_self_sources() & UMN_SELF_PATCH) ||
	    umn_notifier_register(&sub, mm)) {
		fprintf(stderr, "site_cache: umn did not start with patching\n");
		return 1;
	}
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	p[0] = 1;
	lo = (unsigned long)p;
	hi = lo + (unsigned long)page;
	if (site_munmap(p, (unsigned long)page)) {
		fprintf(stderr, "site_cache: munmap failed\n");
		return 1;
	}
	printf("decoder: %s\n", dl_iterate_phdr(find_decoder, NULL) == 1 ?
				"loaded" : "not loaded");
	printf("unmap: %s\n", __atomic_load_n(&seen, __ATOMIC_RELAXED) ?
			      "seen" : "missed");
	if (argc > 1) {
		void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);

		printf("dlopen: %s\n", h ? "ok" : dlerror());
		printf("decoder after dlopen: %s\n",
		       dl_iterate_phdr(find_decoder, NULL) == 1 ?
		       "loaded" : "not loaded");
	}
	(void)umn_notifier_unregister(&sub, mm);
	return __atomic_load_n(&seen, __ATOMIC_RELAXED) ? 0 : 1;
}
