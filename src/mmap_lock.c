/* SPDX-License-Identifier: MIT */
/*
 * The mmap lock of an address space (kernel: mmap_lock, an rwsem).
 *
 * A writer-preferring reader-writer lock with downgrade, built on a mutex
 * and two condition variables (pthread rwlocks have no downgrade).  Each
 * thread keeps a small table of the address-space locks it holds, which
 * gives the kernel's assertions real teeth and lets a thread that already
 * holds a lock take its read side again without blocking: an event source
 * can fire inside code that holds the lock (a hooked munmap called from a
 * callback, or from a signal handler that interrupted the holder).
 *
 * For UMN_MM_SIGNAL_SAFE address spaces the internal mutex is taken with all
 * signals blocked, so a handler never finds it held by its own thread.
 */
#include <errno.h>
#include <signal.h>
#include <umn/debug.h>
#include <umn/mm.h>
#include "debug.h"
#include "notifier_internal.h"

#define HELD_SLOTS 16

enum { HELD_NONE = 0, HELD_READ = 1, HELD_WRITE = 2 };

struct held_lock {
	const struct umn_mm *mm;
	int mode;
	int depth;
};

/* initial-exec: touched inside free() and signal handlers (hooks), where a
 * dynamic-TLS first access could allocate */
static __thread struct held_lock held[HELD_SLOTS]
	__attribute__((tls_model("initial-exec")));

static struct held_lock *held_find(const struct umn_mm *mm)
{
	for (int i = 0; i < HELD_SLOTS; i++)
		if (held[i].mm == mm)
			return &held[i];
	return NULL;
}

static void held_add(const struct umn_mm *mm, int mode, const char *func)
{
	for (int i = 0; i < HELD_SLOTS; i++) {
		if (!held[i].mm) {
			held[i].mm = mm;
			held[i].mode = mode;
			held[i].depth = 1;
			return;
		}
	}
	umnp_warn(func, "thread holds more than %d address-space locks; "
		  "ownership not tracked", HELD_SLOTS);
}

static void held_del(struct held_lock *h)
{
	h->mm = NULL;
	h->mode = HELD_NONE;
	h->depth = 0;
}

/* ---- the lock itself ----
 *
 * `word` counts readers and carries the WRITER bit; every acquisition is a
 * CAS on it, so the uncontended read side is one CAS to take and one atomic
 * decrement to drop, with no mutex and (for signal-safe address spaces) no
 * signal-mask system call.  The mutex and condition variables serve only the
 * slow paths: sleeping readers and writers, and their wake-ups.
 *
 * Writer preference: a reader does not take the lock while a writer is
 * queued (writers_waiting > 0).  Lost wake-ups are excluded because a
 * sleeper re-checks `word` under the mutex and every waker takes the mutex
 * before signalling; writers_waiting and word are seq_cst, so a reader that
 * drops the last hold either sees the queued writer (and wakes it) or the
 * writer's CAS sees the reader gone.
 */
#define WRITER (1 << 30)

struct guard {
	sigset_t saved;
	bool masked;
};

static void inner_lock(struct umn_mm *mm, struct guard *g)
{
	g->masked = (__atomic_load_n(&mm->flags, __ATOMIC_RELAXED) &
		     UMN_MM_SIGNAL_SAFE) != 0 && !umnp_signals_blocked;
	if (g->masked) {
		sigset_t all;

		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &g->saved);
	}
	umnp_crit_enter();	/* wrapped signal handlers wait (signals.c) */
	pthread_mutex_lock(&mm->mmap_lock.mutex);
}

static void inner_unlock(struct umn_mm *mm, struct guard *g)
{
	pthread_mutex_unlock(&mm->mmap_lock.mutex);
	umnp_crit_exit();
	if (g->masked)
		pthread_sigmask(SIG_SETMASK, &g->saved, NULL);
}

static bool read_try_once(struct umn_mmap_lock *l)
{
	int w = __atomic_load_n(&l->word, __ATOMIC_SEQ_CST);

	while (!(w & WRITER) &&
	       !__atomic_load_n(&l->writers_waiting, __ATOMIC_SEQ_CST)) {
		if (__atomic_compare_exchange_n(&l->word, &w, w + 1, false,
						__ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			return true;
	}
	return false;
}

static void down_read(struct umn_mm *mm)
{
	struct umn_mmap_lock *l = &mm->mmap_lock;
	struct guard g;

	if (read_try_once(l))
		return;
	inner_lock(mm, &g);
	while (!read_try_once(l))
		pthread_cond_wait(&l->readers_cv, &l->mutex);
	inner_unlock(mm, &g);
}

static bool down_read_trylock(struct umn_mm *mm)
{
	return read_try_once(&mm->mmap_lock);
}

/* Returns false (and changes nothing) if no reader holds the lock. */
static bool up_read(struct umn_mm *mm)
{
	struct umn_mmap_lock *l = &mm->mmap_lock;
	int w = __atomic_load_n(&l->word, __ATOMIC_SEQ_CST);
	struct guard g;

	do {
		if ((w & ~WRITER) == 0 || (w & WRITER))
			return false;
	} while (!__atomic_compare_exchange_n(&l->word, &w, w - 1, false,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	if (w - 1 == 0 && __atomic_load_n(&l->writers_waiting, __ATOMIC_SEQ_CST)) {
		inner_lock(mm, &g);
		pthread_cond_signal(&l->writers_cv);
		inner_unlock(mm, &g);
	}
	return true;
}

static bool write_try_once(struct umn_mmap_lock *l)
{
	int zero = 0;

	return __atomic_compare_exchange_n(&l->word, &zero, WRITER, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static void down_write(struct umn_mm *mm)
{
	struct umn_mmap_lock *l = &mm->mmap_lock;
	struct guard g;

	if (write_try_once(l))
		return;
	inner_lock(mm, &g);
	__atomic_add_fetch(&l->writers_waiting, 1, __ATOMIC_SEQ_CST);
	while (!write_try_once(l))
		pthread_cond_wait(&l->writers_cv, &l->mutex);
	__atomic_sub_fetch(&l->writers_waiting, 1, __ATOMIC_SEQ_CST);
	inner_unlock(mm, &g);
}

static bool down_write_trylock(struct umn_mm *mm)
{
	return write_try_once(&mm->mmap_lock);
}

/* Wake whoever may now proceed: a queued writer first, else all readers. */
static void wake_after_write(struct umn_mm *mm)
{
	struct umn_mmap_lock *l = &mm->mmap_lock;
	struct guard g;

	inner_lock(mm, &g);
	if (__atomic_load_n(&l->writers_waiting, __ATOMIC_SEQ_CST))
		pthread_cond_signal(&l->writers_cv);
	pthread_cond_broadcast(&l->readers_cv);
	inner_unlock(mm, &g);
}

static void up_write(struct umn_mm *mm)
{
	__atomic_store_n(&mm->mmap_lock.word, 0, __ATOMIC_SEQ_CST);
	wake_after_write(mm);
}

static void downgrade_write(struct umn_mm *mm)
{
	/* WRITER -> one reader, atomically: no writer can slip in. */
	__atomic_store_n(&mm->mmap_lock.word, 1, __ATOMIC_SEQ_CST);
	wake_after_write(mm);
}

int umnp_mmap_lock_init(struct umn_mm *mm);
void umnp_mmap_lock_destroy(struct umn_mm *mm);

int umnp_mmap_lock_init(struct umn_mm *mm)
{
	struct umn_mmap_lock *l = &mm->mmap_lock;

	if (pthread_mutex_init(&l->mutex, NULL))
		return -ENOMEM;
	if (pthread_cond_init(&l->readers_cv, NULL)) {
		pthread_mutex_destroy(&l->mutex);
		return -ENOMEM;
	}
	if (pthread_cond_init(&l->writers_cv, NULL)) {
		pthread_cond_destroy(&l->readers_cv);
		pthread_mutex_destroy(&l->mutex);
		return -ENOMEM;
	}
	l->word = 0;
	l->writers_waiting = 0;
	return 0;
}

void umnp_mmap_lock_destroy(struct umn_mm *mm)
{
	struct umn_mmap_lock *l = &mm->mmap_lock;

	pthread_cond_destroy(&l->writers_cv);
	pthread_cond_destroy(&l->readers_cv);
	pthread_mutex_destroy(&l->mutex);
}

/* ---- the public API ---- */

/*
 * The lock word and this thread's table of held locks change together: a
 * wrapped signal handler (whose hooks take the read side again) waits
 * until both agree (umnp_crit_*, see signals.c).
 */
void umn_mmap_read_lock(struct umn_mm *mm)
{
	struct held_lock *h;

	umnp_crit_enter();
	h = held_find(mm);
	if (h) {		/* nested: this thread already excludes writers */
		h->depth++;
		umnp_crit_exit();
		return;
	}
	umnp_dbg_might_sleep(__func__);
	down_read(mm);
	held_add(mm, HELD_READ, __func__);
	umnp_crit_exit();
}

static bool read_trylock_body(struct umn_mm *mm)
{
	struct held_lock *h = held_find(mm);

	if (h) {
		h->depth++;
		return true;
	}
	if (!down_read_trylock(mm))
		return false;
	held_add(mm, HELD_READ, "umn_mmap_read_trylock");
	return true;
}

static void read_unlock(struct umn_mm *mm)
{
	struct held_lock *h = held_find(mm);

	if (h) {
		if (--h->depth > 0)
			return;
		if (h->mode == HELD_WRITE) {
			/* the outermost hold was the write lock */
			umnp_warn("umn_mmap_read_unlock",
				  "read unlock of a write-held lock");
			h->depth = 1;
			return;
		}
		held_del(h);
		(void)up_read(mm);
		return;
	}
	/* Released by a thread that did not take it (kernel: _non_owner). */
	if (!up_read(mm))
		umnp_warn("umn_mmap_read_unlock",
			  "read unlock of an unlocked lock ignored");
}

void umn_mmap_read_unlock(struct umn_mm *mm)
{
	umnp_crit_enter();
	read_unlock(mm);
	umnp_crit_exit();
}

static void write_lock_body(struct umn_mm *mm)
{
	if (held_find(mm))
		umnp_warn("umn_mmap_write_lock",
			  "thread already holds this lock: deadlock");
	umnp_dbg_might_sleep("umn_mmap_write_lock");
	down_write(mm);
	held_add(mm, HELD_WRITE, "umn_mmap_write_lock");
}

static bool write_trylock_body(struct umn_mm *mm)
{
	if (held_find(mm))
		return false;
	if (!down_write_trylock(mm))
		return false;
	held_add(mm, HELD_WRITE, "umn_mmap_write_trylock");
	return true;
}

static void write_unlock_body(struct umn_mm *mm)
{
	struct held_lock *h = held_find(mm);

	if (!h || h->mode != HELD_WRITE) {
		umnp_warn("umn_mmap_write_unlock",
			  "write unlock by a thread not holding it "
			  "for write: ignored");
		return;
	}
	if (--h->depth > 0) {
		umnp_warn("umn_mmap_write_unlock",
			  "write unlock with nested read holds");
		h->depth++;
		return;
	}
	held_del(h);
	up_write(mm);
}

static void write_downgrade_body(struct umn_mm *mm)
{
	struct held_lock *h = held_find(mm);

	if (!h || h->mode != HELD_WRITE) {
		umnp_warn("umn_mmap_write_downgrade",
			  "downgrade without the write lock: ignored");
		return;
	}
	h->mode = HELD_READ;
	downgrade_write(mm);
}

/* The public lock operations: critical sections (see umn_mmap_read_lock). */
bool umn_mmap_read_trylock(struct umn_mm *mm)
{
	bool ok;

	umnp_crit_enter();
	ok = read_trylock_body(mm);
	umnp_crit_exit();
	return ok;
}

void umn_mmap_write_lock(struct umn_mm *mm)
{
	umnp_crit_enter();
	write_lock_body(mm);
	umnp_crit_exit();
}

bool umn_mmap_write_trylock(struct umn_mm *mm)
{
	bool ok;

	umnp_crit_enter();
	ok = write_trylock_body(mm);
	umnp_crit_exit();
	return ok;
}

void umn_mmap_write_unlock(struct umn_mm *mm)
{
	umnp_crit_enter();
	write_unlock_body(mm);
	umnp_crit_exit();
}

void umn_mmap_write_downgrade(struct umn_mm *mm)
{
	umnp_crit_enter();
	write_downgrade_body(mm);
	umnp_crit_exit();
}

int umn_mmap_held(const struct umn_mm *mm)
{
	struct held_lock *h = held_find(mm);

	return h ? h->mode : HELD_NONE;
}

void umn_mmap_assert_locked(struct umn_mm *mm)
{
	if (UMN_LIB_DEBUG && !held_find(mm))
		umnp_warn(__func__, "mmap lock not held by this thread");
}

void umn_mmap_assert_write_locked(struct umn_mm *mm)
{
	struct held_lock *h = held_find(mm);

	if (UMN_LIB_DEBUG && (!h || h->mode != HELD_WRITE))
		umnp_warn(__func__, "mmap lock not write-held by this thread");
}
