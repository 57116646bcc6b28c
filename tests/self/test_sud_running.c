/* SPDX-License-Identifier: MIT */
/*
 * The safety net (UMN_SELF_SUD=1) and the threads already running when it
 * is armed (src/self/sud_threads.c).  Eight threads are started BEFORE
 * umn_mm_self(): four workers, two creators, a reader and one that blocks
 * SIGSYS; they wait on a barrier (the reader in read()).  Then
 * umn_mm_self() arms the net, which must arm the seven that can take a
 * signal and count the blocking one as not armed.
 * After it, each worker makes munmap and madvise(DONTNEED) with the number
 * in a register (inline asm: no site to discover, libc not involved): they
 * must trap and a subscriber must see them.  The blocking thread then
 * unblocks SIGSYS, takes the request still pending and arms itself: its
 * calls must be seen too.  Two creators (test hooks, umn__test_sud_arm_hook)
 * force the two orderings that matter: one makes a thread from inside the
 * arming, after the running threads are armed (the net's flag must be on
 * by then: umn's pthread_create arms the thread); the other is in flight,
 * its pthread_create having read the flag off just before the arming, and
 * calls libc's only once the running threads are armed unless umn waits
 * for it first (it must: then the new thread is listed and signalled).
 * Each new thread makes the same register-number calls.  One more thread
 * is inside a blocking read() when its request comes: the read must go on
 * (SA_RESTART) and return the byte written after the arming.
 *
 * Built three ways:
 *  - self.sud_running: linked with libumn, the checks above;
 *  - self.sud_running_dlopen (SUD_DLOPEN): not linked with libumn, loads
 *    argv[1] (libumn.so) with dlopen after the threads exist, as a plugin
 *    would: every thread of the program is a running one (no creator
 *    hooks: pthread_create is libc's); then a thread made by libc's
 *    pthread_create after the arming makes the same calls first (libc's
 *    start_thread arms it);
 *  - tool_prog_sudrunning (SUD_NO_UMN): run under `umn trace --audit` with
 *    UMN_SELF_SUD=1 by tests/tool/audit_sud.sh: 0 missed.
 * Skips (77) where the kernel lacks Syscall User Dispatch (< 5.11).
 * Watchdog: alarm(30); the hook's wait for the creator: 5 s.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifndef SUD_NO_UMN
#include <umn/notifier.h>
#include <umn/self.h>
#endif

#ifdef SUD_DLOPEN
/* The few functions used, found in the dlopen'd library. */
#define DL_FN(ret, name, args) static ret(*dl_##name) args;
#define DL_FNS                                                               \
	DL_FN(struct umn_mm *, umn_mm_self, (void))                          \
	DL_FN(unsigned int, umn_self_sources, (void))                        \
	DL_FN(int, umn_notifier_register,                                    \
	      (struct umn_notifier *, struct umn_mm *))                      \
	DL_FN(int, umn_notifier_unregister,                                  \
	      (struct umn_notifier *, struct umn_mm *))                      \
	DL_FN(unsigned long, umn__test_sud_traps, (const void *))            \
	DL_FN(void, umn__test_sud_running, (unsigned int *, unsigned int *)) \
	DL_FN(void, umn__test_sud_arm_hook, (void (*)(int)))
DL_FNS
#undef DL_FN
#define umn_mm_self (*dl_umn_mm_self)
#define umn_self_sources (*dl_umn_self_sources)
#define umn_notifier_register (*dl_umn_notifier_register)
#define umn_notifier_unregister (*dl_umn_notifier_unregister)
#define umn__test_sud_traps (*dl_umn__test_sud_traps)
#define umn__test_sud_running (*dl_umn__test_sud_running)
#define umn__test_sud_arm_hook (*dl_umn__test_sud_arm_hook)
#endif

#define SUD_EV_MAX 512
#include "sud_common.h"

#define WORKERS 4
/* the workers, the blocking thread, the thread made in the hook, the
 * thread of the creator in flight */
#define CALLERS (WORKERS + 3)
#define BLOCKER WORKERS
#define LATE (WORKERS + 1)
#define INFLIGHT (WORKERS + 2)

static char *unmap_pg[CALLERS], *advise_pg[CALLERS];
static volatile long unmap_ret[CALLERS], advise_ret[CALLERS];

static pthread_barrier_t ready;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage; /* 1: the workers call; 2: the blocking thread unblocks */

static void wait_stage(int s)
{
	pthread_mutex_lock(&lock);
	while (stage < s)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

static void set_stage(int s)
{
	pthread_mutex_lock(&lock);
	stage = s;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* The two calls of caller i, number in a register. */
static void calls(long i)
{
	unmap_ret[i] = sud_reg_syscall(SYS_munmap, (long)unmap_pg[i],
				       sud_page, 0);
	advise_ret[i] = sud_reg_syscall(SYS_madvise, (long)advise_pg[i],
					sud_page, MADV_DONTNEED);
}

static void *worker(void *arg)
{
	pthread_barrier_wait(&ready);
	wait_stage(1);
	calls((long)arg);
	return NULL;
}

/* The thread made during the arming (HOOK_THREAD): no barrier. */
static SUD_UNUSED void *late_worker(void *arg)
{
	wait_stage(1);
	calls((long)arg);
	return NULL;
}

static void *blocker(void *arg)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	EXPECT(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0);
	pthread_barrier_wait(&ready);
	wait_stage(2);
	/* the arming request, pending, is taken here */
	EXPECT(pthread_sigmask(SIG_UNBLOCK, &set, NULL) == 0);
	calls((long)arg);
	return NULL;
}

/* A thread inside a blocking read() when the request comes: the read
 * goes on (SA_RESTART) and returns the byte written after the arming. */
static int pipefd[2], reader_tid;
static volatile long reader_ret = -2;
static volatile int reader_errno;

static void *reader(void *arg)
{
	char c;

	(void)arg;
	reader_tid = gettid();
	pthread_barrier_wait(&ready);
	reader_ret = read(pipefd[0], &c, 1);
	reader_errno = errno;
	return NULL;
}

/* Wait until the reader is inside read() (its /proc syscall line). */
static void reader_in_read(void)
{
	char path[64], line[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", reader_tid);
	for (int i = 0; i < 5000; i++) {
		FILE *f = fopen(path, "r");

		EXPECT(f != NULL);
		line[0] = 0;
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		fclose(f);
		if (!strncmp(line, "0 ", 2)) /* SYS_read */
			return;
		usleep(1000);
	}
	FAIL("the reader is not in read() after 5 s");
}

#if !defined(SUD_NO_UMN) && !defined(SUD_DLOPEN)
#define HOOK_THREAD 1
static sem_t create_now, created, inflight_go, inflight_in, armed_all;
static pthread_t late, inflight;
static int inflight_tid;

static void sem_wait_ms(sem_t *s, long ms, const char *what)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_nsec += ms % 1000 * 1000000;
	t.tv_sec += ms / 1000 + t.tv_nsec / 1000000000;
	t.tv_nsec %= 1000000000;
	while (sem_timedwait(s, &t))
		if (errno != EINTR) {
			if (what)
				FAIL("%s: not in %ld ms", what, ms);
			return;
		}
}

/* A creator in flight: its pthread_create reads the net's flag off just
 * before the arming starts, and calls libc's only after the running
 * threads are armed, or after 300 ms (when umn waits for it first, as it
 * must).  Its thread must be listed and armed all the same. */
static void *inflight_creator(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&ready);
	while (sem_wait(&inflight_go) && errno == EINTR)
		;
	inflight_tid = gettid();
	EXPECT(pthread_create(&inflight, NULL, late_worker,
			      (void *)(long)INFLIGHT) == 0);
	wait_stage(1); /* alive at the arming's count */
	return NULL;
}

static void *creator(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&ready);
	while (sem_wait(&create_now) && errno == EINTR)
		;
	EXPECT(pthread_create(&late, NULL, late_worker, (void *)(long)LATE) ==
	       0);
	sem_post(&created);
	return NULL;
}

/* In the arming thread, after the running threads are armed: a thread
 * made now must start armed. */
static void arm_hook(int where)
{
	if (where == 2 && gettid() == inflight_tid) {
		/* the creator in flight, flag read off */
		sem_post(&inflight_in);
		sem_wait_ms(&armed_all, 300, NULL);
		return;
	}
	if (where != 1)
		return;
	sem_post(&armed_all);
	sem_post(&create_now);
	sem_wait_ms(&created, 5000, "the creator's pthread_create");
}
#else
#define HOOK_THREAD 0
#endif

#ifdef SUD_DLOPEN
/* Made by libc's pthread_create after the arming (umn is not before libc
 * here): its first instructions are the two calls. */
static void *after_dlopen(void *arg)
{
	sud_reg_calls();
	return arg;
}

static void load_umn(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h)
		FAIL("dlopen %s: %s", path, dlerror());
#define DL_FN(ret, name, args)                                               \
	if (!(*(void **)&dl_##name = dlsym(h, #name)))                       \
		FAIL("dlsym %s: %s", #name, dlerror());
	DL_FNS
#undef DL_FN
}
#endif

int main(int argc, char **argv)
{
	pthread_t t[CALLERS];
	/* before the arming: workers, blocker, reader, creators */
	int nthreads = WORKERS + 2 + 2 * HOOK_THREAD;
	pthread_t rd;

	sud_start();
	for (int i = 0; i < CALLERS; i++) {
		unmap_pg[i] = mmap(NULL, (size_t)sud_page,
				   PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		advise_pg[i] = mmap(NULL, (size_t)sud_page,
				    PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		EXPECT(unmap_pg[i] != MAP_FAILED && advise_pg[i] != MAP_FAILED);
		memset(advise_pg[i], 1, (size_t)sud_page);
		unmap_ret[i] = advise_ret[i] = -1;
	}
	EXPECT(pthread_barrier_init(&ready, NULL, (unsigned)nthreads + 1) == 0);
	for (long i = 0; i < WORKERS; i++)
		EXPECT(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	EXPECT(pthread_create(&t[BLOCKER], NULL, blocker,
			      (void *)(long)BLOCKER) == 0);
	EXPECT(pipe(pipefd) == 0);
	EXPECT(pthread_create(&rd, NULL, reader, NULL) == 0);
#if HOOK_THREAD
	pthread_t c, c2;

	EXPECT(sem_init(&create_now, 0, 0) == 0 &&
	       sem_init(&created, 0, 0) == 0 &&
	       sem_init(&inflight_go, 0, 0) == 0 &&
	       sem_init(&inflight_in, 0, 0) == 0 &&
	       sem_init(&armed_all, 0, 0) == 0);
	EXPECT(pthread_create(&c, NULL, creator, NULL) == 0);
	EXPECT(pthread_create(&c2, NULL, inflight_creator, NULL) == 0);
#endif
	pthread_barrier_wait(&ready); /* all of them exist and wait */
	reader_in_read();

#ifndef SUD_NO_UMN
	struct umn_notifier sub = { .ops = &sud_ev_ops };
	struct umn_mm *mm;
	unsigned int armed, not_armed;
	unsigned long traps;

#ifdef SUD_DLOPEN
	EXPECT(argc == 2);
	load_umn(argv[1]);
#endif
#if HOOK_THREAD
	umn__test_sud_arm_hook(arm_hook);
	sem_post(&inflight_go);
	sem_wait_ms(&inflight_in, 5000, "the creator in flight");
#endif
	traps = umn__test_sud_traps(sud_reg_insn);
	mm = sud_subscribe(&sub); /* umn_mm_self(): the net is armed */
	umn__test_sud_running(&armed, &not_armed);
	printf("# running threads: %u armed, %u not armed\n", armed,
	       not_armed);
	/* the workers, the reader, the creators and the thread of the one
	 * in flight; the blocking one */
	EXPECT(armed == (unsigned)nthreads - 1 + HOOK_THREAD);
	EXPECT(not_armed == 1);
#else
	(void)argc;
	(void)argv;
#endif

	EXPECT(write(pipefd[1], "x", 1) == 1);
	EXPECT(pthread_join(rd, NULL) == 0);
	if (reader_ret != 1)
		FAIL("read() interrupted by the arming: %ld (%s)", reader_ret,
		     strerror(reader_errno));
	set_stage(1);
	for (int i = 0; i < WORKERS; i++)
		EXPECT(pthread_join(t[i], NULL) == 0);
	set_stage(2);
	EXPECT(pthread_join(t[BLOCKER], NULL) == 0);
#if HOOK_THREAD
	EXPECT(pthread_join(c, NULL) == 0);
	EXPECT(pthread_join(late, NULL) == 0);
	EXPECT(pthread_join(c2, NULL) == 0);
	EXPECT(pthread_join(inflight, NULL) == 0);
#endif

	for (int i = 0; i < CALLERS; i++) {
		if ((i == LATE || i == INFLIGHT) && !HOOK_THREAD)
			continue;
		if (unmap_ret[i] || advise_ret[i] || advise_pg[i][0])
			FAIL("caller %d: munmap %ld, madvise %ld, page %d", i,
			     unmap_ret[i], advise_ret[i], advise_pg[i][0]);
#ifndef SUD_NO_UMN
		unsigned long u = (unsigned long)unmap_pg[i];
		unsigned long a = (unsigned long)advise_pg[i];

		if (!sud_ev_seen(UMN_NOTIFY_UNMAP, u, u + (unsigned long)sud_page,
				 true) ||
		    !sud_ev_seen(UMN_NOTIFY_CLEAR, a, a + (unsigned long)sud_page,
				 false))
			FAIL("caller %d%s: its register-number calls were not "
			     "reported (its thread was not armed)", i,
			     i == BLOCKER ? " (blocked SIGSYS, then unblocked)"
			     : i == LATE ? " (made during the arming)"
			     : i == INFLIGHT ? " (its creator was in flight)"
			     : "");
#endif
	}
#ifndef SUD_NO_UMN
	traps = umn__test_sud_traps(sud_reg_insn) - traps;
	printf("# %lu trap(s) at the register-number site\n", traps);
	EXPECT(traps == 2ul * (WORKERS + 1 + 2 * HOOK_THREAD));
#ifdef SUD_DLOPEN
	{
		/* libc's start_thread arms it (its patched set_robust_list
		 * site) before the start routine */
		pthread_t after;

		traps = umn__test_sud_traps(sud_reg_insn);
		sud_pages_map();
		EXPECT(pthread_create(&after, NULL, after_dlopen, NULL) == 0);
		EXPECT(pthread_join(after, NULL) == 0);
		EXPECT(sud_munmap_ret == 0 && sud_madvise_ret == 0);
		traps = umn__test_sud_traps(sud_reg_insn) - traps;
		if (traps != 2)
			FAIL("a thread of libc's pthread_create made after the "
			     "dlopen: %lu trap(s), not 2 (not armed)", traps);
		sud_expect_reported(true);
	}
#endif
	EXPECT(umn_notifier_unregister(&sub, mm) == 0);
#endif
	printf("ok - sud_running\n");
	return 0;
}
