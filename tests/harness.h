/* SPDX-License-Identifier: MIT */
/*
 * The tests' tiny harness.  A test program runs named cases; each failed
 * check prints file:line and the expression, and the program exits 1.
 * Exit 77 means skipped.  Stress tests read UMN_STRESS_SECONDS and
 * UMN_SEED (printed, so a failing run can be replayed).
 */
#ifndef UMN_TESTS_HARNESS_H
#define UMN_TESTS_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T_SKIP 77

/* T_TSAN: 1 in a ThreadSanitizer build (gcc or clang) */
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
#ifndef T_TSAN
#define T_TSAN 0
#endif

/* T_ASAN: 1 in an AddressSanitizer build (gcc or clang) */
#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#ifndef T_ASAN
#define T_ASAN 0
#endif

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                            \
			fflush(stderr);                                      \
			exit(1);                                             \
		}                                                            \
	} while (0)

#define CHECK_EQ(a, b)                                                       \
	do {                                                                 \
		long long _a = (long long)(a), _b = (long long)(b);          \
		if (_a != _b) {                                              \
			fprintf(stderr,                                      \
				"%s:%d: CHECK_EQ failed: %s (%lld) != %s (%lld)\n", \
				__FILE__, __LINE__, #a, _a, #b, _b);         \
			fflush(stderr);                                      \
			exit(1);                                             \
		}                                                            \
	} while (0)

#define RUN(fn)                                                              \
	do {                                                                 \
		printf("# %s\n", #fn);                                       \
		fflush(stdout);                                              \
		fn();                                                        \
		printf("ok - %s\n", #fn);                                    \
	} while (0)

/* Seconds for stress loops: UMN_STRESS_SECONDS (default dflt). */
static inline double t_stress_seconds(double dflt)
{
	const char *s = getenv("UMN_STRESS_SECONDS");
	double v = s ? strtod(s, NULL) : dflt;
	return v > 0 ? v : dflt;
}

/* The seed: UMN_SEED if set, else time-based; printed for replay. */
static inline uint64_t t_seed(const char *test)
{
	const char *s = getenv("UMN_SEED");
	uint64_t seed;
	if (s) {
		seed = strtoull(s, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
	}
	printf("# %s: UMN_SEED=%" PRIu64 "\n", test, seed);
	fflush(stdout);
	return seed;
}

/* xorshift64*: fast, per-thread, reproducible. */
static inline uint64_t t_rand(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static inline double t_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif /* UMN_TESTS_HARNESS_H */
