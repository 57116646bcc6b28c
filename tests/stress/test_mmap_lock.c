/* SPDX-License-Identifier: MIT */
/*
 * The mmap lock under contention: threads take it at random for read
 * (sometimes nested), for write, by trylock, and downgrade write holds,
 * while shared counters check exclusion at every step: never a writer with
 * anyone else inside, never two writers.  Also on a signal-safe address
 * space with signals raised inside read holds.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <umn/umn.h>
#include "harness.h"

#define THREADS 4

static struct umn_mm *mm;
static int readers, writers;
static volatile int stop;
static unsigned long ops[THREADS];

static void enter_read(void)
{
	__atomic_add_fetch(&readers, 1, __ATOMIC_SEQ_CST);
	CHECK_EQ(__atomic_load_n(&writers, __ATOMIC_SEQ_CST), 0);
}

static void leave_read(void)
{
	__atomic_sub_fetch(&readers, 1, __ATOMIC_SEQ_CST);
}

static void enter_write(void)
{
	CHECK_EQ(__atomic_add_fetch(&writers, 1, __ATOMIC_SEQ_CST), 1);
	CHECK_EQ(__atomic_load_n(&readers, __ATOMIC_SEQ_CST), 0);
}

static void leave_write(void)
{
	__atomic_sub_fetch(&writers, 1, __ATOMIC_SEQ_CST);
}

static void handler(int sig)
{
	(void)sig;
	umn_mmap_read_lock(mm);		/* nested in the interrupted hold */
	umn_mmap_read_unlock(mm);
}

struct targ {
	int id;
	uint64_t rng;
};

static void *worker(void *p)
{
	struct targ *t = p;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		switch (t_rand(&t->rng) % 6) {
		case 0: case 1:
			umn_mmap_read_lock(mm);
			enter_read();
			if (t_rand(&t->rng) % 4 == 0) {
				umn_mmap_read_lock(mm);	/* nested */
				if (mm->flags & UMN_MM_SIGNAL_SAFE)
					raise(SIGUSR1);
				umn_mmap_read_unlock(mm);
			}
			leave_read();
			umn_mmap_read_unlock(mm);
			break;
		case 2:
			if (umn_mmap_read_trylock(mm)) {
				enter_read();
				leave_read();
				umn_mmap_read_unlock(mm);
			}
			break;
		case 3:
			umn_mmap_write_lock(mm);
			enter_write();
			leave_write();
			umn_mmap_write_unlock(mm);
			break;
		case 4:
			umn_mmap_write_lock(mm);
			enter_write();
			/* downgrade: become a reader with no writer in between */
			__atomic_add_fetch(&readers, 1, __ATOMIC_SEQ_CST);
			leave_write();
			umn_mmap_write_downgrade(mm);
			sched_yield();
			CHECK_EQ(__atomic_load_n(&writers, __ATOMIC_SEQ_CST), 0);
			leave_read();
			umn_mmap_read_unlock(mm);
			break;
		case 5:
			if (umn_mmap_write_trylock(mm)) {
				enter_write();
				leave_write();
				umn_mmap_write_unlock(mm);
			}
			break;
		}
		ops[t->id]++;
	}
	return NULL;
}

static void run(unsigned int flags, uint64_t seed, double seconds)
{
	pthread_t th[THREADS];
	struct targ ta[THREADS];
	unsigned long total = 0;
	double end;

	mm = umn_mm_new_flags(flags);
	CHECK(mm != NULL);
	stop = 0;
	for (int i = 0; i < THREADS; i++) {
		ta[i].id = i;
		ta[i].rng = seed + (uint64_t)i * 7919;
		ops[i] = 0;
		pthread_create(&th[i], NULL, worker, &ta[i]);
	}
	end = t_now() + seconds;
	while (t_now() < end)
		usleep(10000);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		total += ops[i];
		CHECK(ops[i] > 0);	/* nobody starved completely */
	}
	CHECK_EQ(readers, 0);
	CHECK_EQ(writers, 0);
	CHECK(umn_mmap_write_trylock(mm));	/* nothing leaked */
	umn_mmap_write_unlock(mm);
	printf("# flags=%#x: %lu lock operations by %d threads\n", flags,
	       total, THREADS);
	umn_mm_put(mm);
}

int main(void)
{
	struct sigaction sa = { .sa_handler = handler };
	uint64_t seed = t_seed("mmap_lock");
	double s = t_stress_seconds(3.0);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	run(0, seed, s / 2);
	run(UMN_MM_SIGNAL_SAFE, seed + 1, s / 2);
	printf("ok - mmap lock exclusion held\n");
	return 0;
}
