/* SPDX-License-Identifier: MIT */
/*
 * The ready-made mlock registration on the real process (umn_mm_self()):
 * get pins the pages (VmLck grows), a real munmap invalidates the region
 * through the event sources, the next get unpins it, a re-mmap at the same
 * address is registered afresh; with RLIMIT_MEMLOCK forbidding the lock
 * (in a child without CAP_IPC_LOCK) get returns -EPERM or -ENOMEM and
 * caches nothing.
 */
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "rc_common.h"

#define LEN (16 * PAGE)

static long vmlck_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static struct umn_regcache *mlock_cache(void)
{
	struct umn_regcache_params p = { .ops = &umn_regcache_mlock_ops };
	struct umn_regcache *rc = umn_regcache_new(umn_mm_self(), &p);

	CHECK(rc != NULL);
	return rc;
}

static void pins_and_unpins(void)
{
	struct umn_regcache *rc = mlock_cache();
	struct umn_regcache_region *r, *s;
	long base = vmlck_kb();
	char *buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret;

	CHECK(buf != MAP_FAILED);
	ret = umn_regcache_get(rc, (unsigned long)buf, LEN, &r);
	if (ret == -ENOMEM || ret == -EPERM) {
		printf("# skipped: mlock refused (%d): raise RLIMIT_MEMLOCK\n",
		       ret);
		exit(T_SKIP);
	}
	CHECK_EQ(ret, 0);
	CHECK_EQ(vmlck_kb() - base, LEN / 1024);
	umn_regcache_put(rc, r);
	CHECK_EQ(vmlck_kb() - base, LEN / 1024);	/* cached: still pinned */
	CHECK_EQ(munmap(buf, LEN), 0);
	CHECK_EQ(stats_of(rc).invalidated, 1);
	CHECK(mmap(buf, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == buf);
	CHECK_EQ(vmlck_kb() - base, 0);		/* the new pages: not locked */
	CHECK_EQ(umn_regcache_get(rc, (unsigned long)buf, LEN, &s), 0);
	CHECK_EQ(stats_of(rc).misses, 2);	/* not the stale one */
	CHECK_EQ(stats_of(rc).dereg, 1);
	CHECK_EQ(vmlck_kb() - base, LEN / 1024);
	umn_regcache_put(rc, s);
	CHECK_EQ(umn_regcache_destroy(rc), 0);
	CHECK_EQ(vmlck_kb() - base, 0);
	CHECK_EQ(munmap(buf, LEN), 0);
}

/* Drop CAP_IPC_LOCK from the effective set (root ignores the limit). */
static void drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	CHECK_EQ(syscall(SYS_capget, &h, d), 0);
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	CHECK_EQ(syscall(SYS_capset, &h, d), 0);
}

static void rlimit_forbids(void)
{
	pid_t pid = fork();
	int status;

	CHECK(pid >= 0);
	if (pid == 0) {
		struct umn_regcache *rc = mlock_cache();
		struct umn_regcache_region *r;
		struct rlimit lim = { PAGE, PAGE };	/* one page only */
		char *buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		alarm(10);
		CHECK(buf != MAP_FAILED);
		drop_ipc_lock();
		CHECK_EQ(setrlimit(RLIMIT_MEMLOCK, &lim), 0);
		CHECK_EQ(umn_regcache_get(rc, (unsigned long)buf, LEN, &r),
			 -ENOMEM);
		CHECK_EQ(stats_of(rc).regions, 0);
		CHECK_EQ(umn_regcache_get(rc, (unsigned long)buf, PAGE, &r), 0);
		umn_regcache_put(rc, r);
		CHECK_EQ(umn_regcache_flush(rc), 0);
		lim.rlim_cur = lim.rlim_max = 0;	/* none at all */
		CHECK_EQ(setrlimit(RLIMIT_MEMLOCK, &lim), 0);
		CHECK_EQ(umn_regcache_get(rc, (unsigned long)buf, PAGE, &r),
			 -EPERM);
		CHECK_EQ(stats_of(rc).regions, 0);
		CHECK_EQ(umn_regcache_destroy(rc), 0);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

int main(void)
{
	rc_setup(30);
	{
		/* sanitizer runtimes turn mlock into a no-op */
		char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		long before = vmlck_kb(), after;

		CHECK(p != MAP_FAILED);
		if (mlock(p, PAGE)) {
			printf("# skipped: mlock fails (%s): raise "
			       "RLIMIT_MEMLOCK\n", strerror(errno));
			return T_SKIP;
		}
		after = vmlck_kb();
		munlock(p, PAGE);
		munmap(p, PAGE);
		if (after - before != (long)(PAGE / 1024)) {
			printf("# skipped: mlock does not pin here (VmLck %ld "
			       "-> %ld kB; a sanitizer runtime?)\n", before,
			       after);
			return T_SKIP;
		}
	}
	if (umn_self_init(0) != 0) {
		printf("# skipped: no event source for the real process\n");
		return T_SKIP;
	}
	RUN(pins_and_unpins);
	RUN(rlimit_forbids);
	rc_teardown();
	return 0;
}
