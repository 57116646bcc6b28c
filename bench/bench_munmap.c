/* SPDX-License-Identifier: MIT */
/*
 * 5. munmap + mmap of a 4 KiB page in a real process, in separate processes
 *    (the hooks cannot coexist): fork + exec of a child per mode and round,
 *    modes interleaved within each round:
 *
 *   bare      this executable, which does not link libumn (libumn's
 *             interposition source exports munmap) nor hook anything
 *   ucx       this executable with UCX 1.13's memory hooks active: an
 *             event handler for UCM_EVENT_VM_UNMAPPED is installed (ucm
 *             patches libc's entry points); the handler counts events, and
 *             the child checks they arrive
 *   self      bench_munmap_umn: umn_mm_self() initialised, no subscription
 *   self100k  bench_munmap_umn: 100,000 interval subscriptions on
 *             umn_mm_self(), none intersecting the pages unmapped
 *
 * Targets: self100k <= 1.10x bare, and <= 1.0x ucx.
 *
 *   bench_munmap [--quick] [--rounds N]      driver
 *   bench_munmap --child bare|ucx PAIRS      a child (prints ns per pair)
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "munmap_child.h"
#if BENCH_HAVE_UCX
#include <ucm/api/ucm.h>
#endif

enum { M_BARE, M_UCX, M_SELF, M_SELF100K, M_SELF100K_NOMASK, NMODES };
static const char *mode_name[NMODES] = { "bare", "ucx", "self", "self100k",
					 "self100k-nomask" };

#if BENCH_HAVE_UCX
static unsigned long ucx_events;

static void ucx_cb(ucm_event_type_t type, ucm_event_t *event, void *arg)
{
	(void)type; (void)event; (void)arg;
	__atomic_add_fetch(&ucx_events, 1, __ATOMIC_RELAXED);
}
#endif

static int child(const char *mode, unsigned long pairs)
{
	double ns;

	if (!strcmp(mode, "ucx")) {
#if BENCH_HAVE_UCX
		ucs_status_t st = ucm_set_event_handler(UCM_EVENT_VM_UNMAPPED,
							0, ucx_cb, NULL);

		if (st != UCS_OK) {
			fprintf(stderr, "ucm_set_event_handler: %d\n", (int)st);
			printf("-1 0\n");
			return 0;
		}
#else
		printf("-1 0\n");
		return 0;
#endif
	}
	ns = munmap_child_measure(pairs);
#if BENCH_HAVE_UCX
	if (!strcmp(mode, "ucx") && ucx_events < pairs) {
		fprintf(stderr, "ucx: only %lu events for %lu munmaps: hooks "
			"not active\n", ucx_events, pairs);
		ns = -1;
	}
	printf("%.3f %lu\n", ns, ucx_events);
#else
	printf("%.3f 0\n", ns);
#endif
	fflush(stdout);
	return 0;
}

/*
 * The unit cost of the self address space's signal masking: one
 * pthread_sigmask(SIG_BLOCK, all) + pthread_sigmask(SIG_SETMASK, saved), as
 * its internal locks do around each locked section (two system calls).
 */
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;

static void run_mutex(void *arg, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++) {
		pthread_mutex_lock(&mutex);
		pthread_mutex_unlock(&mutex);
	}
}

static void run_sigmask(void *arg, uint64_t iters)
{
	sigset_t all, saved;

	sigfillset(&all);
	for (uint64_t i = 0; i < iters; i++) {
		pthread_sigmask(SIG_BLOCK, &all, &saved);
		pthread_mutex_lock(&mutex);
		pthread_mutex_unlock(&mutex);
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
	}
}

/* Run one child; returns ns per pair or -1. */
static double spawn(const char *exe, char *const argv[], unsigned long *ev,
		    char *info)
{
	int fd[2];
	pid_t pid;
	char buf[128] = "";
	ssize_t n, off = 0;
	int status;
	double ns = -1;

	if (pipe(fd))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(fd[0]);
		dup2(fd[1], 1);
		close(fd[1]);
		execv(exe, argv);
		perror(exe);
		_exit(127);
	}
	close(fd[1]);
	while (off < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd[0], buf + off, sizeof(buf) - 1 - (size_t)off)) > 0)
		off += n;
	close(fd[0]);
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    sscanf(buf, "%lf %lu %127[^\n]", &ns, ev, info) >= 2)
		return ns;
	return -1;
}

int main(int argc, char **argv)
{
	char self_exe[PATH_MAX], umn_exe[PATH_MAX + 32], pairs_s[32];
	double per[NMODES][BENCH_MAX_ROUNDS], med[NMODES];
	char info[NMODES][128];
	unsigned long ev[NMODES] = { 0 };

	memset(info, 0, sizeof(info));
	unsigned long pairs;
	ssize_t len;
	int rounds;
	char *slash;
	char note[200];

	if (argc == 4 && !strcmp(argv[1], "--child"))
		return child(argv[2], strtoul(argv[3], NULL, 0));
	bench_init(argc, argv);
	/* children are short and noisy: twice the usual rounds */
	rounds = 2 * bench_rounds() > BENCH_MAX_ROUNDS ? BENCH_MAX_ROUNDS :
							 2 * bench_rounds();
	pairs = bench_scale(20000, 4000);
	snprintf(pairs_s, sizeof(pairs_s), "%lu", pairs);
	len = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (len <= 0)
		return 1;
	self_exe[len] = 0;
	snprintf(umn_exe, sizeof(umn_exe), "%s", self_exe);
	slash = strrchr(umn_exe, '/');
	snprintf(slash + 1, sizeof(umn_exe) - (size_t)(slash + 1 - umn_exe),
		 "bench_munmap_umn");

	printf("== 5. munmap + mmap of a 4 KiB page, %lu pairs per child, "
	       "%d rounds\n", pairs, rounds);
#if !BENCH_HAVE_UCX
	printf("  UCX: not available\n");
#endif
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < NMODES; k++) {
			/* ABCD DCBA ...: cancels linear drift within a pair
			 * of rounds */
			int m = r % 2 ? NMODES - 1 - k : k;
			char *cargv[5];

			if (m == M_SELF || m == M_SELF100K ||
			    m == M_SELF100K_NOMASK) {
				cargv[0] = umn_exe;
				cargv[1] = (char *)mode_name[m];
				cargv[2] = pairs_s;
				cargv[3] = NULL;
				per[m][r] = spawn(umn_exe, cargv, &ev[m], info[m]);
			} else {
				cargv[0] = self_exe;
				cargv[1] = (char *)"--child";
				cargv[2] = (char *)mode_name[m];
				cargv[3] = pairs_s;
				cargv[4] = NULL;
				per[m][r] = spawn(self_exe, cargv, &ev[m], info[m]);
			}
		}
	}
	for (int m = 0; m < NMODES; m++) {
		bool ok = true;

		for (int r = 0; r < rounds; r++)
			ok &= per[m][r] >= 0;
		med[m] = ok ? bench_median(per[m], rounds) : -1;
		printf("  %-9s median %8.1f ns/pair  min %8.1f  (last child: "
		       "%lu events %s)\n", mode_name[m], med[m],
		       ok ? bench_min(per[m], rounds) : -1.0, ev[m], info[m]);
	}
	snprintf(note, sizeof(note), "separate processes, %lu pairs each, "
		 "page never touched", pairs);
	bench_emit(&(struct bench_row){
		.id = "5a", .name = "munmap+mmap, umn_mm_self(), no subscription",
		.subject = "umn self, no subscription", .subject_val = med[M_SELF],
		.baseline = "bare (no hooks)", .baseline_val = med[M_BARE],
		.unit = "ns", .ratio = med[M_SELF] >= 0 && med[M_BARE] > 0 ?
				       med[M_SELF] / med[M_BARE] : -1,
		.target_max = BENCH_NO_TARGET, .note = note });
	bench_emit(&(struct bench_row){
		.id = "5b", .name = "munmap+mmap, 100k subscriptions vs bare",
		.subject = "umn self, 100k interval subs",
		.subject_val = med[M_SELF100K],
		.baseline = "bare (no hooks)", .baseline_val = med[M_BARE],
		.unit = "ns", .ratio = med[M_SELF100K] >= 0 && med[M_BARE] > 0 ?
				       med[M_SELF100K] / med[M_BARE] : -1,
		.target = "<= 1.10x", .target_max = 1.10, .note = "" });
	bench_emit(&(struct bench_row){
		.id = "5c", .name = "munmap+mmap, 100k subscriptions vs UCX",
		.subject = "umn self, 100k interval subs",
		.subject_val = med[M_SELF100K],
		.baseline = "UCX 1.13 ucm hooks (VM_UNMAPPED)",
		.baseline_val = med[M_UCX],
		.unit = "ns", .ratio = med[M_SELF100K] >= 0 && med[M_UCX] > 0 ?
				       med[M_SELF100K] / med[M_UCX] : -1,
		.target = "<= 1.0x", .target_max = 1.0,
		.note = med[M_UCX] < 0 ? "UCX: not available" : "" });
	bench_emit(&(struct bench_row){
		.id = "5e", .name = "100k subs, UMN_SELF_NOSIGMASK=1, vs bare",
		.subject = "umn self, 100k interval subs, hooks without signal masking",
		.subject_val = med[M_SELF100K_NOMASK],
		.baseline = "bare (no hooks)", .baseline_val = med[M_BARE],
		.unit = "ns", .ratio = med[M_SELF100K_NOMASK] >= 0 &&
				       med[M_BARE] > 0 ?
				       med[M_SELF100K_NOMASK] / med[M_BARE] : -1,
		.target = "<= 1.10x", .target_max = 1.10,
		.note = "for programs whose signal handlers never unmap memory" });
	bench_emit(&(struct bench_row){
		.id = "5f", .name = "100k subs, UMN_SELF_NOSIGMASK=1, vs UCX",
		.subject = "umn self, 100k interval subs, hooks without signal masking",
		.subject_val = med[M_SELF100K_NOMASK],
		.baseline = "UCX 1.13 ucm hooks (VM_UNMAPPED)",
		.baseline_val = med[M_UCX],
		.unit = "ns", .ratio = med[M_SELF100K_NOMASK] >= 0 &&
				       med[M_UCX] > 0 ?
				       med[M_SELF100K_NOMASK] / med[M_UCX] : -1,
		.target = "<= 1.0x", .target_max = 1.0,
		.note = "UCX does not protect its hooks against signal handlers either" });
	{
		struct bench_case c[2] = {
			{ .label = "pthread mutex lock+unlock",
			  .fn = run_mutex },
			{ .label = "the same, signals blocked around it",
			  .fn = run_sigmask },
		};

		bench_pin(0);
		bench_interleave(c, 2, bench_rounds(), bench_quick() ? 5e6 : 20e6);
		bench_print_cases(stdout, c, 2);
		bench_emit(&(struct bench_row){
			.id = "5s", .name = "a signal-safe locked section",
			.subject = c[1].label, .subject_val = c[1].median,
			.baseline = c[0].label, .baseline_val = c[0].median,
			.unit = "ns", .ratio = c[1].median / c[0].median,
			.target_max = BENCH_NO_TARGET,
			.note = "2 rt_sigprocmask syscalls: the unit cost "
				"behind 5b" });
	}
	bench_emit(&(struct bench_row){
		.id = "5d", .name = "munmap+mmap, UCX hooks vs bare",
		.subject = "UCX 1.13 ucm hooks (VM_UNMAPPED)",
		.subject_val = med[M_UCX],
		.baseline = "bare (no hooks)", .baseline_val = med[M_BARE],
		.unit = "ns", .ratio = med[M_UCX] >= 0 && med[M_BARE] > 0 ?
				       med[M_UCX] / med[M_BARE] : -1,
		.target_max = BENCH_NO_TARGET, .note = "for reference" });
	return 0;
}
