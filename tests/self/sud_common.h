/* SPDX-License-Identifier: MIT */
/*
 * Shared by the safety-net programs (test_sud.c, test_sud_clone.c,
 * test_sud_thread.c, bench_clone.c): the Syscall User Dispatch probe and
 * skip, the subscriber on umn_mm_self(), a `syscall` whose number is in a
 * register, the pages its munmap and madvise(DONTNEED) act on, and a raw
 * clone whose child exits at once.
 *
 * Define SUD_NO_UMN before including it in a program built without umn
 * (the tests/tool audit programs): the parts that call umn are left out.
 * Everything is static and marked unused: each program takes what it needs.
 */
#ifndef UMN_TESTS_SELF_SUD_COMMON_H
#define UMN_TESTS_SELF_SUD_COMMON_H

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifndef SUD_NO_UMN
#include <umn/notifier.h>
#include <umn/self.h>
#endif

#define SUD_UNUSED __attribute__((unused))

#define FAIL(...)                                                            \
	do {                                                                 \
		fprintf(stderr, "FAIL: " __VA_ARGS__);                       \
		fputc('\n', stderr);                                         \
		exit(1);                                                     \
	} while (0)
#define EXPECT(c) \
	do { if (!(c)) FAIL("%s:%d: %s", __FILE__, __LINE__, #c); } while (0)

/* The number arrives in a register: no fixed-number site to discover;
 * its `syscall` instruction is at sud_reg_insn. */
long sud_reg_syscall(long nr, long a1, long a2, long a3);
extern const unsigned char sud_reg_insn[];
__asm__(".text\n"
	".globl sud_reg_syscall\n"
	".type sud_reg_syscall,@function\n"
	"sud_reg_syscall:\n"
	"	mov %rdi,%rax\n"
	"	mov %rsi,%rdi\n"
	"	mov %rdx,%rsi\n"
	"	mov %rcx,%rdx\n"
	".globl sud_reg_insn\n"
	"sud_reg_insn:\n"
	"	syscall\n"
	"	ret\n"
	".size sud_reg_syscall,.-sud_reg_syscall\n");

/* Does this kernel have Syscall User Dispatch?  (Tried in a child.) */
static SUD_UNUSED bool sud_unavailable(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		static volatile char sel; /* ALLOW: nothing traps */

		_exit(prctl(59 /* PR_SET_SYSCALL_USER_DISPATCH */, 1, 0, 0,
			    &sel) ? 1 : 0);
	}
	return pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	       WEXITSTATUS(st) != 0;
}

static SUD_UNUSED long sud_page;

/* The start of a test's main: the watchdog (alarm(30)), sud_page, and
 * exit 77 where the kernel lacks Syscall User Dispatch (< 5.11). */
static SUD_UNUSED void sud_start(void)
{
	alarm(30);
	sud_page = sysconf(_SC_PAGESIZE);
	if (sud_unavailable()) {
		printf("SKIP: syscall user dispatch unavailable here "
		       "(Linux >= 5.11)\n");
		exit(77);
	}
}

/* The pages the register-number munmap and madvise(DONTNEED) act on, and
 * what the calls returned (written by the task that made them). */
static SUD_UNUSED char *sud_unmap_page, *sud_advise_page;
static SUD_UNUSED volatile long sud_munmap_ret = -1, sud_madvise_ret = -1;

/* Map both pages (the one to advise filled with 1s); results reset. */
static SUD_UNUSED void sud_pages_map(void)
{
	sud_unmap_page = mmap(NULL, (size_t)sud_page, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sud_advise_page = mmap(NULL, (size_t)sud_page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT(sud_unmap_page != MAP_FAILED && sud_advise_page != MAP_FAILED);
	memset(sud_advise_page, 1, (size_t)sud_page);
	sud_munmap_ret = sud_madvise_ret = -1;
}

/* The two calls, number in a register: nothing else, no libc. */
static inline SUD_UNUSED void sud_reg_calls(void)
{
	sud_munmap_ret = sud_reg_syscall(SYS_munmap, (long)sud_unmap_page,
					 sud_page, 0);
	sud_madvise_ret = sud_reg_syscall(SYS_madvise, (long)sud_advise_page,
					  sud_page, MADV_DONTNEED);
}

/*
 * A raw clone(flags) from outside libc, child stack sp (NULL: none),
 * CLONE_CHILD_CLEARTID word ctid: the child exits(0) at once without
 * touching memory.  Returns what the parent got.
 */
static inline SUD_UNUSED long sud_raw_clone_exit(long flags, void *sp,
						 volatile int *ctid)
{
	register long r10 __asm__("r10") = (long)ctid;
	register long r8 __asm__("r8") = 0;
	long r;

	__asm__ volatile("syscall\n"
			 "	test %%rax,%%rax\n"
			 "	jnz 1f\n"
			 "	mov $60,%%eax\n" /* the child: exit(0) */
			 "	xor %%edi,%%edi\n"
			 "	syscall\n"
			 "1:\n"
			 : "=a"(r)
			 : "a"((long)SYS_clone), "D"(flags), "S"(sp), "d"(0l),
			   "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return r;
}

#ifndef SUD_NO_UMN
/* umn_mm_self() with sub registered on it; exits 77 where the patch
 * source is not active (the net comes with it). */
static SUD_UNUSED struct umn_mm *sud_subscribe(struct umn_notifier *sub)
{
	struct umn_mm *mm = umn_mm_self();

	EXPECT(mm != NULL);
	if (!(umn_self_sources() & UMN_SELF_PATCH)) {
		printf("SKIP: the patch source is not active\n");
		exit(77);
	}
	EXPECT(umn_notifier_register(sub, mm) == 0);
	return mm;
}

/* Events seen, from any thread (a child has no log of its own): the
 * range, and whether its first page was still mapped at the start. */
#ifndef SUD_EV_MAX
#define SUD_EV_MAX 64
#endif
static SUD_UNUSED struct sud_ev {
	unsigned long start, end;
	int event;
	bool mapped;
} sud_evs[SUD_EV_MAX];
static SUD_UNUSED int sud_nev;

static SUD_UNUSED int sud_ev_start(struct umn_notifier *sub,
				   const struct umn_notifier_range *r)
{
	int i = __atomic_fetch_add(&sud_nev, 1, __ATOMIC_RELAXED);
	unsigned char vec;

	(void)sub;
	if (i < SUD_EV_MAX)
		sud_evs[i] = (struct sud_ev){
			r->start, r->end, r->event,
			!mincore((void *)r->start, 4096, &vec) };
	return 0;
}

static const SUD_UNUSED struct umn_notifier_ops sud_ev_ops = {
	.invalidate_range_start = sud_ev_start,
};

/* Was [s, e) reported as event (and, if mapped_at_start, before the
 * call ran)? */
static SUD_UNUSED bool sud_ev_seen(int event, unsigned long s,
				   unsigned long e, bool mapped_at_start)
{
	for (int i = 0; i < sud_nev && i < SUD_EV_MAX; i++)
		if (sud_evs[i].event == event && sud_evs[i].start <= s &&
		    sud_evs[i].end >= e &&
		    (!mapped_at_start || sud_evs[i].mapped))
			return true;
	return false;
}

/* The subscriber saw both register-number calls (the munmap, if
 * unmap_before, before it ran). */
static SUD_UNUSED void sud_expect_reported(bool unmap_before)
{
	unsigned long u = (unsigned long)sud_unmap_page;
	unsigned long a = (unsigned long)sud_advise_page;

	EXPECT(sud_ev_seen(UMN_NOTIFY_UNMAP, u, u + (unsigned long)sud_page,
			   unmap_before));
	EXPECT(sud_ev_seen(UMN_NOTIFY_CLEAR, a, a + (unsigned long)sud_page,
			   false));
}
#endif /* !SUD_NO_UMN */

#endif
