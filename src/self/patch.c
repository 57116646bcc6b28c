/* SPDX-License-Identifier: MIT */
/*
 * The patching engine (x86-64): libc's system-call wrappers enter umn
 * through a jump written over one instruction.
 *
 * Where the jump goes.  Every wrapper we hook ends in the same two
 * instructions, `mov $NR,%eax` (5 bytes) and `syscall` (2 bytes); syscall()
 * itself ends in `mov 0x8(%rsp),%r9` (5 bytes) and `syscall`.  We replace
 * exactly that one 5-byte instruction by `jmp rel32` to a per-site stub in a
 * page we map within +-2 GiB of libc.  That site, not the function entry, is
 * patched because:
 *   - it is a single instruction: a thread can only be before it (it will
 *     take the jump) or after it (at the syscall, or in the kernel, which
 *     returns after it): no thread can ever be inside the patched bytes, so
 *     a thread preempted in the middle of the wrapper while we patch is safe
 *     (the race of ucx 5855);
 *   - at that point all system-call arguments are in rdi, rsi, rdx, r10, r8,
 *     r9 whatever the wrapper did before (mremap's varargs, mmap's offset
 *     check): one assembly entry serves every wrapper;
 *   - the wrapper's own code after the syscall still runs, so libc keeps its
 *     bookkeeping (brk updates __curbrk) and its errno convention.
 * Every site of the function is patched (mremap and mmap have one each).
 *
 * The stub re-executes the replaced instruction, loads the address of the
 * site's record into r11 (dead: syscall clobbers it) and jumps to
 * umnp_self_sysentry.  The entry sends uninteresting numbers (syscall() is
 * used for futex and the like) straight back to the original `syscall`
 * instruction, untouched; otherwise it skips the red zone, saves the
 * argument registers, aligns the stack, calls umnp_self_sys() (the hook:
 * start, a raw syscall, end) and resumes after the original `syscall` with
 * the kernel-style result in rax.  rcx and r11 are clobbered, as syscall does.
 *
 * How the jump is written without a torn instruction.  The page is made
 * writable (rwx) with a raw mprotect and restored to r-x after.  If the 5
 * bytes lie inside one aligned 16-byte block, one `lock cmpxchg16b` replaces
 * them at once (bytes around them are rewritten unchanged).  Otherwise the
 * first two bytes become `jmp .` (an atomic 2-byte change inside one block):
 * a thread arriving at the site spins there; then the tail is written, then
 * the head, atomically.  A site starting on the last byte of a block
 * takes `int3` as its first byte instead (a SIGTRAP handler of ours sends
 * a thread that reaches it back until the jump is whole; see
 * write_code()).  Between these steps every thread of the process is
 * serialised with membarrier(PRIVATE_EXPEDITED_SYNC_CORE), as x86's
 * cross-modifying-code rule wants, so none can run a mix of old and new
 * bytes.
 *
 * Another patcher got there first (UCX's bistro, Open MPI's patcher,
 * libfabric's memhooks write `movabs $hook,%r11; jmp *%r11` or similar over
 * the function entry).  We do not overwrite their bytes: the 8-byte address
 * inside their jump is swapped atomically for one of our entry-level hooks,
 * which brackets the call and then calls their hook as "the original", so
 * both see every event.  A `jmp rel32` entry is retargeted to a stub of
 * ours the same way.  If they later restore their saved bytes, our chain
 * link goes with it (their restore is of the bytes they saw: ours).
 *
 * Patches are never removed: stubs stay mapped and the hook code stays
 * loaded (libumn is not unloadable once patched: it is opened RTLD_NODELETE
 * by self.c), so no thread can ever jump into freed code.  Patched code is
 * in the fork child's copy of the pages: the child inherits the hooks.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <ucontext.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <umn/notifier.h>
#include "../test_hook.h"
#include "entry_asm.h"
#include "self_internal.h"

#if defined(__x86_64__)

#define STUB_PAGE_SIZE 4096
#define MAX_SITES 2

enum kind { K_INT, K_LONG };

struct target {
	const char *name;
	const char *version;
	long nr;          /* system call made; -1 for syscall() */
	bool required;
	bool sud_only;    /* patched only with the safety net requested */
	bool probe;       /* not exported: found by start_thread_probe() */
	enum kind kind;
	void *chain_hook; /* our entry-level hook for chaining */
	/* state, written once at install */
	uint8_t *func;
	size_t size;      /* from its FDE (probe), else 0: dladdr1's */
	int nsites;
	struct umnp_site_rec rec[MAX_SITES];
	void *chain_prev; /* the previous patcher's target */
	char how[48];
};

static long chain_entry(int idx, long a1, long a2, long a3, long a4, long a5,
			long a6);

#define CHAIN_HOOK(i)                                                        \
	static long chain_hook_##i(long a1, long a2, long a3, long a4,       \
				   long a5, long a6)                         \
	{                                                                    \
		return chain_entry(i, a1, a2, a3, a4, a5, a6);               \
	}
CHAIN_HOOK(0) CHAIN_HOOK(1) CHAIN_HOOK(2) CHAIN_HOOK(3) CHAIN_HOOK(4)
CHAIN_HOOK(5) CHAIN_HOOK(6) CHAIN_HOOK(7) CHAIN_HOOK(8)

static struct target targets[] = {
	{ .name = "munmap", .version = "GLIBC_2.2.5", .nr = SYS_munmap,
	  .required = true, .kind = K_INT, .chain_hook = chain_hook_0 },
	{ .name = "mremap", .version = "GLIBC_2.2.5", .nr = SYS_mremap,
	  .required = false, .kind = K_LONG, .chain_hook = chain_hook_1 },
	{ .name = "madvise", .version = "GLIBC_2.2.5", .nr = SYS_madvise,
	  .required = false, .kind = K_INT, .chain_hook = chain_hook_2 },
	{ .name = "mmap", .version = "GLIBC_2.2.5", .nr = SYS_mmap,
	  .required = false, .kind = K_LONG, .chain_hook = chain_hook_3 },
	{ .name = "mprotect", .version = "GLIBC_2.2.5", .nr = SYS_mprotect,
	  .required = false, .kind = K_INT, .chain_hook = chain_hook_4 },
	{ .name = "brk", .version = "GLIBC_2.2.5", .nr = SYS_brk,
	  .required = false, .kind = K_INT, .chain_hook = chain_hook_5 },
	{ .name = "shmat", .version = "GLIBC_2.2.5", .nr = SYS_shmat,
	  .required = false, .kind = K_LONG, .chain_hook = chain_hook_6 },
	{ .name = "shmdt", .version = "GLIBC_2.2.5", .nr = SYS_shmdt,
	  .required = false, .kind = K_INT, .chain_hook = chain_hook_7 },
	{ .name = "process_madvise", .version = "GLIBC_2.36", .nr = SYS_process_madvise,
	  .required = false, .kind = K_LONG, .chain_hook = chain_hook_8 },
	/* umn wraps the application's signal handlers (signals.c) */
	{ .name = "__libc_sigaction", .version = "GLIBC_PRIVATE",
	  .nr = SYS_rt_sigaction, .required = false, .kind = K_INT,
	  .chain_hook = NULL },
	/* With the safety net: masks that would block SIGSYS on an armed
	 * thread (sud.c).  sigprocmask calls pthread_sigmask. */
	{ .name = "pthread_sigmask", .version = "GLIBC_2.32",
	  .nr = SYS_rt_sigprocmask, .required = false, .sud_only = true,
	  .kind = K_INT, .chain_hook = NULL },
	{ .name = "setcontext", .version = "GLIBC_2.2.5",
	  .nr = SYS_rt_sigprocmask, .required = false, .sud_only = true,
	  .kind = K_INT, .chain_hook = NULL },
	{ .name = "swapcontext", .version = "GLIBC_2.2.5",
	  .nr = SYS_rt_sigprocmask, .required = false, .sud_only = true,
	  .kind = K_INT, .chain_hook = NULL },
	/* With the safety net: libc's start_thread, where every thread of
	 * libc's pthread_create begins, registers its robust list before
	 * the start routine; its hook arms the thread (sud.c) */
	{ .name = "start_thread", .version = NULL,
	  .nr = SYS_set_robust_list, .required = false, .sud_only = true,
	  .probe = true, .kind = K_INT, .chain_hook = NULL },
	/* syscall() is never chained (7 arguments); patched at its site */
	{ .name = "syscall", .version = "GLIBC_2.2.5", .nr = -1,
	  .required = false, .kind = K_LONG, .chain_hook = NULL },
};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

/* ---- the assembly entry --------------------------------------------------
 * In: rax = system call number, rdi rsi rdx r10 r8 r9 = arguments,
 *     r11 = struct umnp_site_rec *, rsp = the wrapper's stack (libc's
 *     wrappers run on C stacks; discovered sites use stack.c's entry).
 * Out: to rec->resume_syscall untouched (not interesting), or to
 *     rec->resume_after with rax = umnp_self_sys(nr, args...).
 */
long umnp_self_sys(long nr, long a1, long a2, long a3, long a4, long a5,
		   long a6);
void umnp_self_sysentry(void);

__asm__(UMNP_ASM_FUNC_BEGIN(umnp_self_sysentry)
	UMNP_ASM_IF_MAP_NR
	UMNP_ASM_IF_NR(SYS_rt_sigaction)   /* signals.c wraps handlers */
	UMNP_ASM_IF_NR(SYS_rt_sigprocmask) /* sud.c keeps SIGSYS unblocked */
	UMNP_ASM_IF_NR(SYS_set_robust_list) /* a new thread of libc's */
	"	jmp *0(%r11)\n"
	"1:\n"
	"	lea -128(%rsp),%rsp\n"     /* the wrapper's red zone */
	UMNP_ASM_SAVE_ARGS
	"	push %rbp\n"
	"	mov %rsp,%rbp\n"
	"	and $-16,%rsp\n"
	"	sub $8,%rsp\n"
	"	push %r9\n"                /* 7th argument, rsp 16-aligned */
	"	mov %r8,%r9\n"
	"	mov %r10,%r8\n"
	"	mov %rdx,%rcx\n"
	"	mov %rsi,%rdx\n"
	"	mov %rdi,%rsi\n"
	"	mov %rax,%rdi\n"
	"	call umnp_self_sys\n"
	"	mov %rbp,%rsp\n"
	"	pop %rbp\n"
	UMNP_ASM_RESTORE_ARGS
	"	lea 128(%rsp),%rsp\n"
	"	jmp *8(%r11)\n"
	UMNP_ASM_FUNC_END(umnp_self_sysentry));

long umnp_self_sys(long nr, long a1, long a2, long a3, long a4, long a5,
		   long a6)
{
	const long a[6] = { a1, a2, a3, a4, a5, a6 };

	return umnp_self_call(UMN_ORIGIN_PATCH, nr, a, NULL, NULL);
}

/* ---- chaining to a previous patcher --------------------------------------- */

static long chain_real(const long a[6], void *ctx)
{
	const struct target *t = ctx;
	long (*fn)(long, long, long, long, long, long) =
		(long (*)(long, long, long, long, long, long))t->chain_prev;
	long r = fn(a[0], a[1], a[2], a[3], a[4], a[5]);

	if (t->kind == K_INT)
		r = (int)r;
	return r == -1 ? -(long)errno : r;
}

static long chain_entry(int idx, long a1, long a2, long a3, long a4, long a5,
			long a6)
{
	struct target *t = &targets[idx];
	const long a[6] = { a1, a2, a3, a4, a5, a6 };
	long r = umnp_self_call(UMN_ORIGIN_PATCH, t->nr, a, chain_real, t);

	if (umnp_self_is_err(r)) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* ---- writing code ---------------------------------------------------------- */

static bool cas16(uint8_t *blk, const uint8_t *oldv, const uint8_t *newv)
{
	uint64_t olo, ohi, nlo, nhi;
	bool ok;

	memcpy(&olo, oldv, 8);
	memcpy(&ohi, oldv + 8, 8);
	memcpy(&nlo, newv, 8);
	memcpy(&nhi, newv + 8, 8);
	__asm__ __volatile__("lock cmpxchg16b %[m]"
			     : "=@ccz"(ok),
			       [m] "+m"(*(volatile unsigned __int128 *)blk),
			       "+a"(olo), "+d"(ohi)
			     : "b"(nlo), "c"(nhi)
			     : "memory");
	return ok;
}

/* Atomically replace bytes [off, off+n) of the aligned 16-byte block. */
static void write_block(uint8_t *blk, size_t off, const uint8_t *src, size_t n)
{
	uint8_t oldv[16], newv[16];

	do {
		for (int i = 0; i < 16; i++)
			oldv[i] = __atomic_load_n(&blk[i], __ATOMIC_RELAXED);
		memcpy(newv, oldv, 16);
		memcpy(newv + off, src, n);
	} while (!cas16(blk, oldv, newv));
}

/*
 * Cross-modifying code (x86): a thread that fetched the old bytes of an
 * instruction may still run them after our write unless it executes a
 * serialising instruction first.  membarrier(PRIVATE_EXPEDITED_SYNC_CORE)
 * (Linux >= 4.16) makes every thread of the process do that before it
 * returns: between the steps of a multi-step write no thread can still run
 * bytes of the previous step.  Where it is refused, the steps are ordered
 * by the locked writes only (as before, which the snooping instruction
 * caches of x86-64 make work in practice).
 */
#define MEMBARRIER_SYNC_CORE 32           /* PRIVATE_EXPEDITED_SYNC_CORE */
#define MEMBARRIER_REGISTER_SYNC_CORE 64  /* REGISTER_... */

static void sync_core_all(void)
{
	static int state; /* 0 unknown, 1 registered, -1 refused */
	int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);

	if (s == 0) {
		s = umnp_self_raw3(SYS_membarrier,
				   MEMBARRIER_REGISTER_SYNC_CORE, 0, 0) ? -1
									: 1;
		__atomic_store_n(&state, s, __ATOMIC_RELEASE);
	}
	if (s > 0)
		umnp_self_raw3(SYS_membarrier, MEMBARRIER_SYNC_CORE, 0, 0);
}

/*
 * A site whose first byte is the last of a 16-byte block: even a 2-byte
 * `jmp .` cannot be written atomically there.  Its first byte becomes
 * `int3` while the rest is written; a thread that arrives meanwhile traps,
 * and our SIGTRAP handler sends it back to the same instruction until the
 * jump is complete (the kernel's own text patching does this with its
 * int3 handler).  The sites are remembered for good: a trap at one of them
 * is always ours.  SIGTRAP is one of the signals whose handlers umn never
 * wraps (signals.c); an int3 that is not ours goes to the previous handler
 * or gets the default action.  Under a debugger (ptrace) the debugger sees
 * such a trap first.
 */
#define MAX_INT3_SITES 256
static uintptr_t int3_sites[MAX_INT3_SITES];
static unsigned int nint3_sites;
static struct sigaction prev_sigtrap;
static unsigned long int3_retries; /* traps we sent back (a test reads it) */

static void on_sigtrap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uintptr_t at = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP] - 1;
	unsigned int n = __atomic_load_n(&nint3_sites, __ATOMIC_ACQUIRE);

	for (unsigned int i = 0; i < n; i++)
		if (int3_sites[i] == at) {
			__atomic_fetch_add(&int3_retries, 1, __ATOMIC_RELAXED);
			/* run the instruction again: int3, or by now the
			 * jump */
			uc->uc_mcontext.gregs[REG_RIP] = (greg_t)at;
			return;
		}
	if (prev_sigtrap.sa_flags & SA_SIGINFO)
		prev_sigtrap.sa_sigaction(sig, si, ctx);
	else if (prev_sigtrap.sa_handler != SIG_DFL &&
		 prev_sigtrap.sa_handler != SIG_IGN)
		prev_sigtrap.sa_handler(sig);
	else if (prev_sigtrap.sa_handler == SIG_DFL) {
		/* as if we were not here: the default action, at once */
		signal(SIGTRAP, SIG_DFL);
		umnp_self_raw3(SYS_tgkill, umnp_self_raw3(SYS_getpid, 0, 0, 0),
			       umnp_self_raw3(SYS_gettid, 0, 0, 0), SIGTRAP);
	}
}

/* Caller holds the discovery lock (all code writes do). */
static int int3_site_add(uintptr_t site)
{
	static bool installed;

	if (nint3_sites == MAX_INT3_SITES)
		return -ENOMEM;
	if (!installed) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigtrap;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGTRAP, &sa, &prev_sigtrap))
			return -errno;
		installed = true;
	}
	int3_sites[nint3_sites] = site;
	__atomic_store_n(&nint3_sites, nint3_sites + 1, __ATOMIC_RELEASE);
	return 0;
}

/* Private, for umn's tests (<umn/self.h>). */
unsigned long umn__test_int3_retries(void);
unsigned long umn__test_int3_retries(void)
{
	return __atomic_load_n(&int3_retries, __ATOMIC_RELAXED);
}

/* Bytes [i, n) of src to dst, block by block (each block atomic). */
static void write_tail(uint8_t *dst, const uint8_t *src, size_t i, size_t n)
{
	while (i < n) {
		uint8_t *b = (uint8_t *)((uintptr_t)(dst + i) & ~(uintptr_t)15);
		size_t o = (size_t)(dst + i - b);
		size_t k = n - i < 16 - o ? n - i : 16 - o;

		write_block(b, o, src + i, k);
		i += k;
	}
}

/* Write bytes [dst, dst+n) of code that other threads may be running:
 * dst is an instruction boundary no thread can be past the start of. */
static int write_code(uint8_t *dst, const uint8_t *src, size_t n)
{
	static const uint8_t spin[2] = { 0xeb, 0xfe }; /* jmp . */
	static const uint8_t int3 = 0xcc;
	uint8_t *blk = (uint8_t *)((uintptr_t)dst & ~(uintptr_t)15);
	size_t off = (size_t)(dst - blk);
	int r;

	if (n > 16)
		return -EINVAL;
	if (off + n <= 16) {
		write_block(blk, off, src, n);
		return 0;
	}
	if (off == 15) {
		r = int3_site_add((uintptr_t)dst);
		if (r)
			return r;
		write_block(blk, off, &int3, 1);
		sync_core_all();
		UMNP_HOOK(UMNP_HOOK_PATCH_INT3, dst);
		write_tail(dst, src, 1, n);
		sync_core_all();
		write_block(blk, off, src, 1);
		sync_core_all();
		return 0;
	}
	write_block(blk, off, spin, 2);
	sync_core_all();
	write_tail(dst, src, 2, n);
	sync_core_all();
	write_block(blk, off, src, 2);
	sync_core_all();
	return 0;
}

/*
 * Through the hooks, not raw: the protection of those pages does change,
 * and a rescan after a dlopen runs while subscribers (and the audit) watch.
 */
static int text_protect(void *p, size_t n, int prot)
{
	uintptr_t s = (uintptr_t)p & ~(UMNP_SELF_PAGE - 1);
	uintptr_t e = ((uintptr_t)p + n + UMNP_SELF_PAGE - 1) &
		      ~(UMNP_SELF_PAGE - 1);
	const long a[6] = { (long)s, (long)(e - s), prot, 0, 0, 0 };
	long r = umnp_self_call(UMN_ORIGIN_PATCH, SYS_mprotect, a, NULL, NULL);

	return umnp_self_is_err(r) ? (int)r : 0;
}

/*
 * Text pages made writable by the current batch of patches (init, a
 * rescan after a dlopen, the safety net's learned sites: each ends with
 * umnp_self_patch_seal(), under the discovery lock), and the protection
 * each gets back then.  Two mprotects per site cost more than the rest of
 * patching (libc's wrappers share a few pages): a page is opened once per
 * batch, and the seal closes runs of pages with one call each.
 */
#define MAX_OPEN_PAGES 64
static struct {
	uintptr_t page;
	int prot;
} open_pages[MAX_OPEN_PAGES];
static unsigned int nopen;

static void close_text_pages(void)
{
	/* insertion sort: a few pages */
	for (unsigned int i = 1; i < nopen; i++)
		for (unsigned int j = i; j > 0 &&
		     open_pages[j - 1].page > open_pages[j].page; j--) {
			uintptr_t p = open_pages[j].page;
			int pr = open_pages[j].prot;

			open_pages[j] = open_pages[j - 1];
			open_pages[j - 1].page = p;
			open_pages[j - 1].prot = pr;
		}
	for (unsigned int i = 0; i < nopen;) {
		unsigned int j = i + 1;

		while (j < nopen && open_pages[j].prot == open_pages[i].prot &&
		       open_pages[j].page ==
			       open_pages[j - 1].page + UMNP_SELF_PAGE)
			j++;
		text_protect((void *)open_pages[i].page,
			     open_pages[j - 1].page + UMNP_SELF_PAGE -
				     open_pages[i].page,
			     open_pages[i].prot);
		i = j;
	}
	nopen = 0;
}

/* Make the pages of [p, p + n) writable until the seal; prot: theirs. */
static int open_text(uint8_t *p, size_t n, int prot)
{
	uintptr_t s = (uintptr_t)p & ~(UMNP_SELF_PAGE - 1);
	uintptr_t e = (uintptr_t)p + n;

	for (uintptr_t pg = s; pg < e; pg += UMNP_SELF_PAGE) {
		unsigned int i;
		int ret;

		for (i = 0; i < nopen && open_pages[i].page != pg; i++)
			;
		if (i < nopen)
			continue;
		if (nopen == MAX_OPEN_PAGES)
			close_text_pages();
		ret = text_protect((void *)pg, UMNP_SELF_PAGE,
				   PROT_READ | PROT_WRITE | PROT_EXEC);
		if (ret)
			return ret;
		open_pages[nopen].page = pg;
		open_pages[nopen].prot = prot;
		nopen++;
	}
	return 0;
}

/* prot: the pages' protection now, restored at the seal (code generated
 * at run time may be writable already: then it is left as it is). */
static int patch_text_prot(uint8_t *dst, const uint8_t *src, size_t n,
			   int prot)
{
	int ret;

	if (prot & PROT_WRITE)
		return write_code(dst, src, n);
	ret = open_text(dst, n, prot);
	if (ret)
		return ret;
	return write_code(dst, src, n);
}

static int patch_text(uint8_t *dst, const uint8_t *src, size_t n)
{
	return patch_text_prot(dst, src, n, PROT_READ | PROT_EXEC);
}

/* ---- the stub page ---------------------------------------------------------- */

/* Stub pages, each within +-2 GiB of the sites it serves (discovery
 * patches objects all over the address space).  Never unmapped. */
#define MAX_STUB_PAGES 256
static struct {
	uint8_t *page;
	size_t used;
	bool writable; /* rwx until umnp_self_patch_seal() */
} stubs[MAX_STUB_PAGES];
static unsigned int nstubs;

static bool near32(uintptr_t a, uintptr_t b)
{
	uintptr_t d = a > b ? a - b : b - a;

	return d < (1ul << 31) - 2 * STUB_PAGE_SIZE;
}

/*
 * A new stub page is mapped rwx at once (*writable true): nothing runs in
 * it yet, and that saves the mprotect that would make it writable.  Where
 * rwx mappings are refused (SELinux execmem, a W^X policy) it is mapped
 * r-x and stub_reserve's mprotect reports the refusal as before.
 */
static bool rwx_refused;

static uint8_t *stub_page_alloc(uintptr_t near, bool *writable)
{
	near &= ~(uintptr_t)0xfffff;
	for (uintptr_t k = 1; k < 1024; k++) {
		for (int sign = -1; sign <= 1; sign += 2) {
			uintptr_t hint = sign < 0 ? near - k * 0x100000
						  : near + k * 0x100000;
			long r;

			if (sign < 0 && near < k * 0x100000 + 0x10000)
				continue;
			for (;;) {
				int prot = PROT_READ | PROT_EXEC;

				if (!rwx_refused)
					prot |= PROT_WRITE;
				r = umnp_self_raw6(SYS_mmap, (long)hint,
						   STUB_PAGE_SIZE, prot,
						   MAP_PRIVATE | MAP_ANONYMOUS |
							   MAP_FIXED_NOREPLACE,
						   -1, 0);
				if (!rwx_refused &&
				    (r == -EACCES || r == -EPERM)) {
					rwx_refused = true;
					continue;
				}
				*writable = !umnp_self_is_err(r) &&
					    !rwx_refused;
				break;
			}
			if (umnp_self_is_err(r))
				continue;
			if ((uintptr_t)r == hint && near32(hint, near))
				return (uint8_t *)r;
			umnp_self_raw3(SYS_munmap, r, STUB_PAGE_SIZE, 0);
		}
	}
	return NULL;
}

/*
 * Room for n bytes of code (and data after it) in a stub page near `near`.
 * The page is made writable (rwx: other stubs in it may be running) until
 * the batch of patches ends (umnp_self_patch_seal), then r-x again.
 * NULL with *err -ENOMEM (no page), or -EPERM (it cannot be made writable:
 * SELinux execmem, a sealed mapping; as for the patched site itself).
 */
static uint8_t *stub_reserve(uintptr_t near, size_t n, int *err)
{
	unsigned int i;
	uint8_t *p;

	n = (n + 15) & ~(size_t)15;
	for (i = 0; i < nstubs; i++)
		if (near32((uintptr_t)stubs[i].page, near) &&
		    stubs[i].used + n <= STUB_PAGE_SIZE)
			break;
	*err = -ENOMEM;
	if (i == nstubs) {
		if (nstubs == MAX_STUB_PAGES)
			return NULL;
		stubs[i].page = stub_page_alloc(near, &stubs[i].writable);
		if (!stubs[i].page)
			return NULL;
		stubs[i].used = 0;
		nstubs++;
	}
	if (!stubs[i].writable) {
		if (text_protect(stubs[i].page, STUB_PAGE_SIZE,
				 PROT_READ | PROT_WRITE | PROT_EXEC)) {
			*err = -EPERM;
			return NULL;
		}
		stubs[i].writable = true;
	}
	p = stubs[i].page + stubs[i].used;
	stubs[i].used += n;
	return p;
}

static uint8_t *stub_emit(uintptr_t near, const uint8_t *code, size_t n,
			  int *err)
{
	uint8_t *p = stub_reserve(near, n, err);

	if (p)
		memcpy(p, code, n);
	return p;
}

/* W^X again for the stub pages and text pages written since the last
 * seal.  Discovery lock held. */
void umnp_self_patch_seal(void)
{
	close_text_pages();
	for (unsigned int i = 0; i < nstubs; i++)
		if (stubs[i].writable) {
			text_protect(stubs[i].page, STUB_PAGE_SIZE,
				     PROT_READ | PROT_EXEC);
			stubs[i].writable = false;
		}
}

/* `jmp *0(%rip); .quad target` */
static size_t put_absjmp(uint8_t *c, uintptr_t target)
{
	static const uint8_t op[6] = { 0xff, 0x25, 0, 0, 0, 0 };

	memcpy(c, op, 6);
	memcpy(c + 6, &target, 8);
	return 14;
}

static void put_rel32_jmp(uint8_t out[5], uintptr_t from, uintptr_t to)
{
	int32_t rel = (int32_t)((intptr_t)to - (intptr_t)(from + 5));

	out[0] = 0xe9;
	memcpy(out + 1, &rel, 4);
}

/* ---- finding sites ------------------------------------------------------------ */

/* A jump some other patcher wrote at the entry: where its address lives. */
static bool foreign_patch(uint8_t *f, uint8_t **imm, size_t *immlen,
			  uintptr_t *prev, const char **what)
{
	static const uint8_t endbr[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
	uint64_t v;

	if (memcmp(f, endbr, 4) == 0)
		f += 4;
	if ((f[0] == 0x49 && f[1] == 0xbb && f[10] == 0x41 && f[11] == 0xff &&
	     f[12] == 0xe3) ||
	    (f[0] == 0x48 && f[1] == 0xb8 && f[10] == 0xff && f[11] == 0xe0)) {
		memcpy(&v, f + 2, 8);
		*imm = f + 2;
		*immlen = 8;
		*prev = (uintptr_t)v;
		*what = "chained(movabs+jmp)";
		return true;
	}
	if (f[0] == 0xff && f[1] == 0x25 && f[2] == 0 && f[3] == 0 &&
	    f[4] == 0 && f[5] == 0) {
		memcpy(&v, f + 6, 8);
		*imm = f + 6;
		*immlen = 8;
		*prev = (uintptr_t)v;
		*what = "chained(jmp *0(%rip))";
		return true;
	}
	if (f[0] == 0xe9) {
		int32_t rel;

		memcpy(&rel, f + 1, 4);
		*imm = f + 1;
		*immlen = 4;
		*prev = (uintptr_t)(f + 5) + (intptr_t)rel;
		*what = "chained(jmp rel32)";
		return true;
	}
	return false;
}

static size_t func_size(void *f)
{
	Dl_info info;
	const ElfW(Sym) *sym = NULL;

	if (dladdr1(f, &info, (void **)&sym, RTLD_DL_SYMENT) && sym &&
	    sym->st_size > 0 && sym->st_size < 4096)
		return sym->st_size;
	return 64;
}

static int chain_target(struct target *t)
{
	uint8_t *imm;
	size_t immlen;
	uintptr_t prev;
	const char *what;
	int ret;

	if (!t->chain_hook || !foreign_patch(t->func, &imm, &immlen, &prev, &what))
		return -ENOENT;
	t->chain_prev = (void *)prev;
	if (immlen == 8) {
		uintptr_t hook = (uintptr_t)t->chain_hook;

		ret = patch_text(imm, (const uint8_t *)&hook, 8);
	} else {
		uint8_t code[16];
		uint8_t *stub;
		int32_t rel;

		put_absjmp(code, (uintptr_t)t->chain_hook);
		stub = stub_emit((uintptr_t)imm, code, 14, &ret);
		if (!stub)
			return ret;
		if (!near32((uintptr_t)stub, (uintptr_t)imm))
			return -ENOMEM;
		rel = (int32_t)((intptr_t)stub - (intptr_t)(imm + 4));
		ret = patch_text(imm, (const uint8_t *)&rel, 4);
	}
	if (ret == 0)
		snprintf(t->how, sizeof(t->how), "%s", what);
	return ret;
}

/* Point the instruction at site (len bytes, followed by `syscall`) at a new
 * stub that runs it and enters `entry` with rec in r11.  rec == NULL: the
 * record is stored in the stub page itself. */
static int patch_one(uint8_t *site, size_t len, struct umnp_site_rec *rec,
		     unsigned int flags, void (*entry)(void), int prot)
{
	uint8_t code[64], jmp[5];
	size_t n = 0, recoff = 0;
	uint8_t *stub;
	uintptr_t recp;
	int err;
	struct umnp_site_rec local = {
		.resume_syscall = (uintptr_t)site + len,
		.resume_after = (uintptr_t)site + len + 2,
		.flags = flags,
	};

	if (len > 7)
		return -EINVAL;
	memset(code, 0xcc, sizeof(code));
	memcpy(code, site, len); /* the replaced instruction */
	n = len;
	code[n++] = 0x49; /* movabs $rec,%r11 (filled below) */
	code[n++] = 0xbb;
	n += 8;
	n += put_absjmp(code + n, (uintptr_t)entry);
	if (!rec) {
		recoff = (n + 15) & ~(size_t)15;
		memcpy(code + recoff, &local, sizeof(local));
		n = recoff + sizeof(local);
	} else {
		*rec = local;
	}
	stub = stub_reserve((uintptr_t)site, (n + 15) & ~(size_t)15, &err);
	if (!stub)
		return err;
	if (!near32((uintptr_t)stub, (uintptr_t)site))
		return -ENOMEM;
	recp = rec ? (uintptr_t)rec : (uintptr_t)(stub + recoff);
	memcpy(code + len + 2, &recp, 8);
	memcpy(stub, code, (n + 15) & ~(size_t)15);
	put_rel32_jmp(jmp, (uintptr_t)site, (uintptr_t)stub);
	/* The stub is published before the jump to it (the cas is a full
	 * barrier). */
	return patch_text_prot(site, jmp, 5, prot) ? -EPERM : 0;
}

static unsigned int munmap_sites; /* discovered munmap sites patched */

int umnp_self_patch_site_prot(uint8_t *site, size_t len, unsigned int flags,
			      int prot)
{
	bool munmap = (len == 5 && site[1] == SYS_munmap) ||
		      (len == 7 && site[3] == SYS_munmap);
	int r = patch_one(site, len, NULL, flags, umnp_self_sysentry_ext,
			  prot);

	if (r == 0 && munmap)
		munmap_sites++;
	return r;
}

int umnp_self_patch_site(uint8_t *site, size_t len, unsigned int flags)
{
	return umnp_self_patch_site_prot(site, len, flags,
					 PROT_READ | PROT_EXEC);
}

static int patch_target(struct target *t)
{
	uint8_t *sites[MAX_SITES];
	uint8_t lens[MAX_SITES];
	int n, r;

	/*
	 * Another patcher's jump at the entry: chain to it.  Its hook may
	 * never run the wrapper's body (it makes the system call itself), so
	 * a site further in (mremap's, 0x29 bytes in) would be patched for
	 * nothing: every call missed.
	 */
	r = chain_target(t);
	if (r != -ENOENT)
		return r;
	n = umnp_self_find_sites_cached(t->func, t->nr, sites, lens,
					MAX_SITES);
	/* dladdr1 (func_size) scans libc's symbols: only when decoding */
	if (n == 0)
		n = umnp_self_find_sites(t->func,
					 t->size ? t->size : func_size(t->func),
					 t->nr, sites, lens, MAX_SITES);

	if (n == 0)
		return chain_target(t);
	for (int s = 0; s < n; s++) {
		r = patch_one(sites[s], lens[s], &t->rec[s], 0,
			      umnp_self_sysentry, PROT_READ | PROT_EXEC);

		if (r)
			return s == 0 ? r : 0;
		t->nsites = s + 1;
	}
	snprintf(t->how, sizeof(t->how), "%d site%s at +%#lx", t->nsites,
		 t->nsites > 1 ? "s" : "",
		 (unsigned long)(sites[0] - t->func));
	return 0;
}

/* ---- libc's start_thread (the safety net) ----------------------------------
 * Not exported, so found by running it: a thread made by libc's own
 * pthread_create returns from its start routine into start_thread; the
 * FDE holding that address gives the function's start and length.  One
 * thread made and joined at install, with the net requested only (it
 * leaves libc's __libc_single_threaded false, as any thread would).
 */
__attribute__((noinline)) static void *probe_start(void *p)
{
	*(void **)p = __builtin_return_address(0);
	return NULL;
}

static void start_thread_probe(void *libc, struct target *t)
{
	int (*create)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
		      void *);
	void *at = NULL;
	Dl_info di, dc;
	pthread_t th;

	*(void **)&create = dlvsym(libc, "pthread_create", "GLIBC_2.34");
	if (!create)
		*(void **)&create = dlsym(libc, "pthread_create");
	if (!create || create(&th, NULL, probe_start, &at) ||
	    pthread_join(th, NULL) || !at) {
		snprintf(t->how, sizeof(t->how), "not found (no probe)");
		return;
	}
	/* in libc, and inside a function its FDE table knows */
	if (!dladdr(at, &di) || !dladdr((void *)create, &dc) ||
	    di.dli_fbase != dc.dli_fbase ||
	    !(t->size = umnp_self_fde_func(at, &t->func))) {
		t->func = NULL;
		snprintf(t->how, sizeof(t->how), "not found (no FDE)");
	}
}

/* UMN_SELF_SUD=1: arm the safety net with libc's text as the allowed
 * range (sud.c).  Says so on stderr when it cannot. */
static void sud_install(void *libc, bool debug)
{
	void *gp = dlsym(libc, "getpid");
	const ElfW(Ehdr) *eh;
	const ElfW(Phdr) *ph;
	Dl_info di;
	int r = -ENOTSUP;

	if (gp && dladdr(gp, &di) && di.dli_fbase) {
		eh = di.dli_fbase;
		ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
		for (int i = 0; i < eh->e_phnum; i++) {
			uintptr_t s = (uintptr_t)eh + ph[i].p_vaddr;

			if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X) &&
			    (uintptr_t)gp >= s &&
			    (uintptr_t)gp < s + ph[i].p_memsz)
				r = umnp_self_sud_init(gp, s, ph[i].p_memsz);
		}
	}
	if (r)
		fprintf(stderr, "umn: UMN_SELF_SUD=1: syscall user dispatch "
				"not armed: %s\n", strerror(-r));
	else if (debug)
		fprintf(stderr, "umn: safety net: syscall user dispatch armed "
				"(allowed: libc's text); not covered: a thread "
				"made by pthread_create or clone() in a static "
				"program, a child of libc's clone() where "
				"libumn is not before libc, until its first "
				"hooked call (threads of pthread_create, umn's "
				"or libc's, of umn's clone() and tasks made "
				"from outside libc start armed, threads "
				"already running are armed by a signal; "
				"doc/sources.md)\n");
}

int umnp_self_patch_install(void)
{
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	bool debug = umnp_self_env_on("UMN_SELF_DEBUG");
	bool sud = getenv("UMN_SELF_SUD") && !strcmp(getenv("UMN_SELF_SUD"),
						      "1");
	int ret = 0, r;

	for (size_t i = 0; i < NTARGETS; i++) {
		targets[i].func = NULL;
		if (targets[i].sud_only && !sud) {
			snprintf(targets[i].how, sizeof(targets[i].how),
				 "not patched (safety net off)");
			continue;
		}
		if (targets[i].probe) {
			if (libc)
				start_thread_probe(libc, &targets[i]);
			if (targets[i].func)
				snprintf(targets[i].how,
					 sizeof(targets[i].how), "not patched");
			continue;
		}
		if (libc) {
			targets[i].func = dlvsym(libc, targets[i].name,
						 targets[i].version);
			if (!targets[i].func)
				targets[i].func = dlsym(libc, targets[i].name);
		}
		snprintf(targets[i].how, sizeof(targets[i].how), "%s",
			 targets[i].func ? "not patched"
			 : libc ? "not in libc" : "no libc.so.6 (static)");
	}
	if (libc && !targets[0].func)
		ret = -ENOTSUP;
	umnp_self_discover_prepare();
	umnp_self_discover_lock();
	if (umnp_self_stack_init() && debug)
		fprintf(stderr, "umn: patch: no stack pool: discovered sites "
				"run their hooks on the caller's stack\n");
	for (size_t i = 0; i < NTARGETS && !ret; i++) {
		if (!targets[i].func)
			continue;
		r = patch_target(&targets[i]);
		if (r && targets[i].required)
			ret = r;
	}
	r = umnp_self_discover_init();
	if (r && umnp_self_decoder_status()) {
		/* Without a decoder no site is found, libc's wrappers
		 * included: the patch source is not usable (the default
		 * set falls back to interposition, self.c). */
		ret = r;
		if (debug)
			fprintf(stderr, "umn: patch: no instruction decoder "
					"(%s): no patching, no site "
					"discovery\n",
				umnp_self_decoder_status());
	} else if (r && debug) {
		fprintf(stderr, "umn: patch: site discovery failed: %s\n",
			strerror(-r));
	}
	if (!libc && !ret && !munmap_sites) {
		/* A static program: its wrappers are in the executable and
		 * only discovery finds them. */
		ret = r ? r : -ENOTSUP;
		if (debug)
			fprintf(stderr, "umn: patch: libc.so.6 is not loaded "
					"(static program?) and no munmap site "
					"was found in the executable: no patch "
					"source\n");
	}
	umnp_self_patch_seal();
	umnp_self_discover_unlock();
	if (debug) {
		for (size_t i = 0; i < NTARGETS; i++)
			fprintf(stderr, "umn: patch %s: %s\n", targets[i].name,
				targets[i].how);
		umnp_self_discover_debug();
	}
	if (libc && !ret && sud)
		sud_install(libc, debug);
	if (libc)
		dlclose(libc);
	return ret;
}

const char *umnp_self_patch_describe(const char *func)
{
	for (size_t i = 0; i < NTARGETS; i++)
		if (strcmp(targets[i].name, func) == 0)
			return targets[i].how[0] ? targets[i].how : "not patched";
	return "unknown";
}

#else /* !__x86_64__ */

unsigned long umn__test_int3_retries(void);
unsigned long umn__test_int3_retries(void)
{
	return 0;
}

int umnp_self_patch_install(void)
{
	return -ENOTSUP;
}

const char *umnp_self_patch_describe(const char *func)
{
	(void)func;
	return "not supported on this architecture";
}

#endif
