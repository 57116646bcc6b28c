/* SPDX-License-Identifier: MIT */
/*
 * The safety net (sud.c) on the threads already running when it is armed:
 * those started before umn_mm_self(), all of a program's threads when
 * libumn is loaded by dlopen.  Syscall User Dispatch is set per thread and
 * only by the thread itself (prctl acts on the caller), so each is asked
 * to arm itself by a signal.
 *
 * The request.  SIGSYS, which the net owns already (no second signal
 * number is taken), sent with rt_tgsigqueueinfo: si_code SI_QUEUE, si_pid
 * our own pid, si_errno ARM_MAGIC and si_value the address of the
 * thread's slot in a table of ours.  The SIGSYS handler tells it from a
 * trap (si_code SYS_USER_DISPATCH) and from someone else's SIGSYS by all
 * four; it arms the thread (the same prctl, the same process-wide selector
 * byte, no thread-local: nothing depends on the thread's own memory or
 * thread pointer), marks the slot and wakes the arming thread (a futex on
 * a counter).  The handler is
 * installed with SA_RESTART: a system call the request interrupts is
 * restarted where the kernel restarts any (not those signal(7) lists as
 * failing with EINTR whatever the flags: poll, epoll_wait, nanosleep...).
 * A thread inside a hook takes the request at once (hooks never block
 * SIGSYS, signals.c); it touches no state of the hook's.
 *
 * Which threads.  The net's flag goes on first (sud.c), so every
 * pthread_create that starts later arms its thread; one that read the flag
 * off is a creator in flight (umnp_self_sud_creating), and the arming
 * thread waits for those to return before it lists the threads, so their
 * threads are listed.  Then /proc/self/task is read, every thread not seen
 * before is sent a request, the answers are awaited, and the list is read
 * again until a pass finds no new thread: a thread made meanwhile by one
 * not yet armed (a raw clone, libc's clone()) is found by the next pass.
 *
 * Answers.  Awaited up to ARM_WAIT_NS in all.  A thread that exits is not
 * counted (ESRCH when sent, gone while awaited, or a zombie: the main
 * thread after pthread_exit, read before sending); one that blocks SIGSYS
 * or is stopped (/proc/self/task/TID/status, after ARM_BLOCKED_NS) is not
 * waited for further and counted as not armed.  Its request stays pending:
 * it arms itself when it unblocks SIGSYS or runs again, or at its first
 * hooked call.  The slots of such threads are never freed (the late
 * handler writes to them); when every thread answered they are.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <umn/self.h>
#include "self_internal.h"

#if defined(__x86_64__)

#define ARM_MAGIC 0x554d4e41 /* "UMNA" in si_errno */
#define ARM_WAIT_NS (1000ll * 1000 * 1000)
#define ARM_BLOCKED_NS (50ll * 1000 * 1000)
#define ARM_SLICE_NS (5ll * 1000 * 1000)
#define ARM_PASSES 64
#define CHUNK_BYTES (64ul << 10)

enum {
	SLOT_PENDING,  /* sent, no answer yet */
	SLOT_ARMED,    /* answered: armed */
	SLOT_REFUSED,  /* answered: its prctl failed */
	SLOT_GONE,     /* exited */
	SLOT_UNSENT,   /* the request could not be sent */
	SLOT_BLOCKED,  /* blocks SIGSYS */
	SLOT_STOPPED,  /* stopped or traced */
};

struct arm_slot {
	int tid;
	int state;
};

struct arm_chunk {
	struct arm_chunk *next;
	unsigned int n, cap;
	struct arm_slot slot[];
};

static struct arm_chunk *chunks; /* the current arming's slots */
static int acks;                 /* futex: one more answer */
int umnp_self_sud_creating;      /* pthread_creates that read the flag off */
static pthread_once_t creating_once = PTHREAD_ONCE_INIT;

/* A fork child has one thread, the one in fork(): no creator in flight,
 * whatever the parent's other threads were doing (without this the
 * child's first arming would wait its whole deadline for them). */
static void creating_fork_child(void)
{
	__atomic_store_n(&umnp_self_sud_creating, 0, __ATOMIC_RELAXED);
}

static void creating_fork_setup(void)
{
	pthread_atfork(NULL, NULL, creating_fork_child);
}

void umnp_self_sud_creating_setup(void)
{
	pthread_once(&creating_once, creating_fork_setup);
}

/* The last arming's figures (umn__test_sud_running, umn__test_sud_sent). */
static unsigned int armed_count, not_armed_count, sent_count;
/* Slots per chunk, if not 0 (umn__test_sud_arm_slots: a test fills a
 * chunk with a few threads). */
static unsigned int test_slots;
static void (*test_hook)(int where);

static long now_ns(void)
{
	struct timespec ts;

	umnp_self_raw3(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0);
	return ts.tv_sec * 1000000000l + ts.tv_nsec;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { 0, ns };

	umnp_self_raw3(SYS_nanosleep, (long)&ts, 0, 0);
}

/* Is s a slot of the current arming?  (Async-signal-safe.) */
static bool slot_known(const struct arm_slot *s)
{
	for (struct arm_chunk *c = __atomic_load_n(&chunks, __ATOMIC_ACQUIRE);
	     c; c = c->next)
		if (s >= c->slot && s < c->slot + c->cap)
			return true;
	return false;
}

bool umnp_self_sud_arm_request(const siginfo_t *si)
{
	struct arm_slot *s = si->si_value.sival_ptr;
	int pending = SLOT_PENDING;
	long r;

	if (si->si_code != SI_QUEUE || si->si_errno != ARM_MAGIC ||
	    si->si_pid != umnp_self_raw3(SYS_getpid, 0, 0, 0) ||
	    !slot_known(s))
		return false;
	/* no thread-local: a thread made by a raw clone may run on a
	 * thread pointer of its own; its "armed" flag stays off, so its
	 * first hook arms it once more (one prctl) */
	r = umnp_self_sud_arm_notls();
	/* the slot may be freed once marked: only acks after this */
	if (__atomic_compare_exchange_n(&s->state, &pending,
					r ? SLOT_REFUSED : SLOT_ARMED, false,
					__ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&acks, 1, __ATOMIC_SEQ_CST);
		umnp_self_raw6(SYS_futex, (long)&acks, FUTEX_WAKE_PRIVATE, 1,
			       0, 0, 0);
	}
	return true;
}

static struct arm_slot *slot_find(int tid)
{
	for (struct arm_chunk *c = chunks; c; c = c->next)
		for (unsigned int i = 0; i < c->n; i++)
			if (c->slot[i].tid == tid)
				return &c->slot[i];
	return NULL;
}

static struct arm_slot *slot_add(int tid)
{
	struct arm_chunk *c = chunks;

	if (!c || c->n == c->cap) {
		long p = umnp_self_raw6(SYS_mmap, 0, CHUNK_BYTES,
					PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p < 0 && p > -4096)
			return NULL;
		c = (struct arm_chunk *)p;
		c->next = chunks;
		c->n = 0;
		c->cap = (CHUNK_BYTES - sizeof(*c)) / sizeof(c->slot[0]);
		if (test_slots && test_slots < c->cap)
			c->cap = test_slots;
		__atomic_store_n(&chunks, c, __ATOMIC_RELEASE);
	}
	c->slot[c->n].tid = tid;
	c->slot[c->n].state = SLOT_PENDING;
	return &c->slot[c->n++];
}

static long send_request(int pid, struct arm_slot *s)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGSYS;
	si.si_code = SI_QUEUE;
	si.si_errno = ARM_MAGIC;
	si.si_pid = pid;
	si.si_uid = (uid_t)umnp_self_raw3(SYS_getuid, 0, 0, 0);
	si.si_value.sival_ptr = s;
	return umnp_self_raw6(SYS_rt_tgsigqueueinfo, pid, s->tid, SIGSYS,
			      (long)&si, 0, 0);
}

static int task_state(int tid);

/*
 * One pass over /proc/self/task: a request to every thread not seen
 * before.  Returns how many were sent (to be awaited, whatever else
 * happened); *err: 0, or -errno if the list could not be read to its end
 * (-ENOMEM: no slot for a thread; *no_slot counts those).
 */
static int pass(int pid, int self, int *err, unsigned int *no_slot)
{
	char buf[4096];
	int fd, sent = 0;
	long n;

	*err = 0;
	fd = (int)umnp_self_raw6(SYS_openat, AT_FDCWD, (long)"/proc/self/task",
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0) {
		*err = fd;
		return 0;
	}
	while ((n = umnp_self_raw3(SYS_getdents64, fd, (long)buf,
				   sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			/* struct linux_dirent64: ino, off, reclen, type, name */
			unsigned short reclen;
			const char *name = buf + off + 19;
			int tid = 0;

			memcpy(&reclen, buf + off + 16, 2);
			off += reclen;
			for (; *name >= '0' && *name <= '9'; name++)
				tid = tid * 10 + (*name - '0');
			if (*name || tid <= 0 || tid == self || slot_find(tid))
				continue;
			struct arm_slot *s = slot_add(tid);
			long r;

			if (!s) {
				/* the others not seen yet: the next pass
				 * tries again, those sent are awaited */
				(*no_slot)++;
				*err = -ENOMEM;
				continue;
			}
			/* The leader, after pthread_exit, stays listed as a
			 * zombie that answers tgkill but never runs a
			 * handler: not sent (other threads leave the list
			 * when they exit).  One status read, for it only. */
			if (tid == pid && task_state(tid) == SLOT_GONE) {
				s->state = SLOT_GONE;
				continue;
			}
			r = send_request(pid, s);
			if (r == -ESRCH)
				s->state = SLOT_GONE;
			else if (r)
				s->state = SLOT_UNSENT;
			else
				sent++;
		}
		if (n < 0)
			break;
	}
	umnp_self_raw3(SYS_close, fd, 0, 0);
	if (n < 0 && !*err)
		*err = (int)n;
	return sent;
}

/* task_state's lines: State's letter, then SigBlk's mask (it comes
 * after State: the walk stops there). */
struct task_status {
	char state;
	bool blk_known;
	uint64_t blk;
};

static bool task_status_line(const char *line, const char *end, void *arg)
{
	struct task_status *t = arg;

	if (end - line > 7 && !memcmp(line, "State:\t", 7))
		t->state = line[7];
	t->blk_known = umnp_self_status_mask(line, end, "SigBlk:", &t->blk);
	return t->blk_known;
}

/* From /proc/self/task/TID/status: SLOT_GONE if the thread has exited but
 * is still listed (a zombie: the main thread after pthread_exit, which
 * stays until the process exits and answers tgkill(0) but never runs a
 * handler), SLOT_BLOCKED if it blocks SIGSYS, SLOT_STOPPED if it is
 * stopped or traced, else SLOT_PENDING (also if the file cannot be read). */
static int task_state(int tid)
{
	struct task_status t = { .state = 0, .blk_known = false };
	char path[48];

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	umnp_self_proc_lines(path, task_status_line, &t);
	if (t.state == 'Z' || t.state == 'X')
		return SLOT_GONE;
	if (t.state == 'T' || t.state == 't')
		return SLOT_STOPPED;
	if (t.blk_known && (t.blk & (1ull << (SIGSYS - 1))))
		return SLOT_BLOCKED;
	return SLOT_PENDING;
}

/* Wait for the answers of the pending slots, until deadline. */
static void await(int pid, long started, long deadline)
{
	umnp_self_sud_test_point(3);
	for (;;) {
		int seen = __atomic_load_n(&acks, __ATOMIC_SEQ_CST);
		long now = now_ns();
		bool late = now - started >= ARM_BLOCKED_NS;
		unsigned int pending = 0;

		for (struct arm_chunk *c = chunks; c; c = c->next)
			for (unsigned int i = 0; i < c->n; i++) {
				struct arm_slot *s = &c->slot[i];
				int st = SLOT_PENDING, to;

				if (__atomic_load_n(&s->state,
						    __ATOMIC_SEQ_CST) != st)
					continue;
				if (umnp_self_raw3(SYS_tgkill, pid, s->tid,
						   0) == -ESRCH)
					to = SLOT_GONE;
				else if (late)
					to = task_state(s->tid);
				else
					to = SLOT_PENDING;
				if (to == SLOT_PENDING ||
				    !__atomic_compare_exchange_n(&s->state,
					&st, to, false, __ATOMIC_SEQ_CST,
					__ATOMIC_RELAXED))
					pending += to == SLOT_PENDING;
			}
		if (!pending || now >= deadline)
			return;
		{
			struct timespec ts = { 0, ARM_SLICE_NS };

			umnp_self_raw6(SYS_futex, (long)&acks,
				       FUTEX_WAIT_PRIVATE, seen, (long)&ts, 0,
				       0);
		}
	}
}

/* Called by sud.c with the net's flag on, on the arming thread (armed). */
void umnp_self_sud_arm_running(void)
{
	bool debug = umnp_self_env_on("UMN_SELF_DEBUG");
	int pid = (int)umnp_self_raw3(SYS_getpid, 0, 0, 0);
	int self = (int)umnp_self_raw3(SYS_gettid, 0, 0, 0);
	long started = now_ns(), deadline = started + ARM_WAIT_NS;
	unsigned int n[SLOT_STOPPED + 1] = { 0 }, passes = 0, creating;
	unsigned int no_slot = 0, sent_total = 0;
	int sent = 0, err = 0;

	umnp_self_sud_test_point(0);
	/* creators that read the flag off: their threads must be listed */
	while ((creating = __atomic_load_n(&umnp_self_sud_creating,
					   __ATOMIC_SEQ_CST)) &&
	       now_ns() < deadline)
		sleep_ns(ARM_SLICE_NS / 5);
	while (passes < ARM_PASSES) {
		no_slot = 0;
		sent = pass(pid, self, &err, &no_slot);
		passes++;
		sent_total += (unsigned int)sent;
		if (sent > 0)
			await(pid, now_ns(), deadline);
		/* no slot for some: the next pass tries them again, if
		 * this one sent requests (else it would find the same) */
		if (sent <= 0 || (err && err != -ENOMEM))
			break;
	}
	umnp_self_sud_test_point(1);

	for (struct arm_chunk *c = chunks; c; c = c->next)
		for (unsigned int i = 0; i < c->n; i++)
			n[__atomic_load_n(&c->slot[i].state,
					  __ATOMIC_SEQ_CST)]++;
	armed_count = n[SLOT_ARMED];
	sent_count = sent_total;
	not_armed_count = n[SLOT_PENDING] + n[SLOT_REFUSED] +
			  n[SLOT_UNSENT] + n[SLOT_BLOCKED] + n[SLOT_STOPPED] +
			  no_slot;
	if (debug) {
		fprintf(stderr, "umn: safety net: %u running thread(s) armed "
				"by a signal, %u not armed",
			armed_count, not_armed_count);
		if (not_armed_count)
			fprintf(stderr, " (%u blocking SIGSYS, %u stopped, %u "
					"no answer in %lld ms, %u refused, %u "
					"not signalled, %u with no slot (no "
					"memory); each arms itself at "
					"its first hooked call, or when it "
					"takes the pending request)",
				n[SLOT_BLOCKED], n[SLOT_STOPPED],
				n[SLOT_PENDING], ARM_WAIT_NS / 1000000,
				n[SLOT_REFUSED], n[SLOT_UNSENT], no_slot);
		fprintf(stderr, "; %u exited, %u pass(es)%s%s\n",
			n[SLOT_GONE], passes,
			err && err != -ENOMEM ?
				": /proc/self/task unreadable: " : "",
			err && err != -ENOMEM ? strerror(-err) : "");
		if (creating)
			fprintf(stderr, "umn: safety net: %u pthread_create "
					"call(s) still in libc's after %lld "
					"ms: their threads may be unarmed\n",
				creating, ARM_WAIT_NS / 1000000);
	}
	if (n[SLOT_PENDING] || n[SLOT_BLOCKED] || n[SLOT_STOPPED])
		return; /* late answers write to the slots: kept */
	{
		struct arm_chunk *c = chunks, *next;

		__atomic_store_n(&chunks, NULL, __ATOMIC_SEQ_CST);
		for (; c; c = next) {
			next = c->next;
			umnp_self_raw3(SYS_munmap, (long)c, CHUNK_BYTES, 0);
		}
	}
}

void umn__test_sud_running(unsigned int *armed, unsigned int *not_armed)
{
	*armed = armed_count;
	*not_armed = not_armed_count;
}

void umn__test_sud_arm_hook(void (*fn)(int where))
{
	__atomic_store_n(&test_hook, fn, __ATOMIC_RELEASE);
}

unsigned int umn__test_sud_sent(void)
{
	return sent_count;
}

void umn__test_sud_arm_slots(unsigned int n)
{
	test_slots = n;
}

void umnp_self_sud_test_point(int where)
{
	void (*fn)(int) = __atomic_load_n(&test_hook, __ATOMIC_ACQUIRE);

	if (fn)
		fn(where);
}

#else

void umn__test_sud_running(unsigned int *armed, unsigned int *not_armed)
{
	*armed = 0;
	*not_armed = 0;
}

void umn__test_sud_arm_hook(void (*fn)(int where))
{
	(void)fn;
}

unsigned int umn__test_sud_sent(void)
{
	return 0;
}

void umn__test_sud_arm_slots(unsigned int n)
{
	(void)n;
}

#endif
