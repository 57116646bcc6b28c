#!/bin/bash
# SPDX-License-Identifier: MIT
#
# verify/run-all.sh [SECONDS]
#
# The whole verification campaign, with SECONDS (default 300) as the budget
# of each long leg:
#   spin      bash verify/spin/run.sh (the protocol model; skipped if absent)
#   fuzz      fuzz/run.sh SECONDS (every libFuzzer target)
#   torture   tests/stress/test_torture for SECONDS in an ASan+UBSan build,
#             a TSan build, and (if the core has the option) an ASan build
#             with -DUMN_DEBUG_YIELD=ON at UMN_YIELD_RATE=10 and 50
#   regcache  tests/stress/test_regcache_stale (the never-stale oracle on
#             <umn/regcache.h>) for SECONDS in the ASan+UBSan and TSan
#             builds, each after its --negative-control (must be caught)
#   misuse    ctest -L misuse in the ASan and TSan builds
#   mutate    verify/mutate.sh: every mutant of verify/mutants.txt against
#             the Debug suite (about an hour on 2 busy cores; its own
#             scratch copy in /tmp)
# Build dirs: build-verify-{asan,tsan,yield} (and build-fuzz).  A seed can be
# fixed with UMN_SEED=...; each torture run prints its seed for replay.
# Prints one line per leg and a final "verify: N passed, M failed".
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-300}
logdir=$here/build-verify-logs
mkdir -p "$logdir"
pass=0
fail=0
skip=0
summary=()

leg() { # name status detail
	summary+=("$(printf '%-28s %-7s %s' "$1" "$2" "$3")")
	case $2 in
	ok) pass=$((pass + 1)) ;;
	skip) skip=$((skip + 1)) ;;
	*) fail=$((fail + 1)) ;;
	esac
	echo "verify: $1: $2 $3"
}

build() { # dir cmake-args...
	local dir=$1
	shift
	cmake -S "$here" -B "$here/$dir" -DUMN_BENCH=OFF "$@" \
		>"$logdir/$dir.configure.log" 2>&1 &&
	cmake --build "$here/$dir" -j"$(nproc)" --target stress_test_torture \
		$([ -f "$here/tests/stress/test_regcache_stale.c" ] &&
		  echo stress_test_regcache_stale) \
		$(cd "$here/tests/misuse" && ls test_*.c 2>/dev/null |
		  sed 's/^/misuse_/; s/\.c$//') \
		>"$logdir/$dir.build.log" 2>&1
}

torture() { # name dir [env...]
	local name=$1 dir=$2
	shift 2
	local log=$logdir/$name.log
	local supp="TSAN_OPTIONS=suppressions=$here/tests/tsan.supp detect_deadlocks=1 second_deadlock_stack=1 halt_on_error=1"
	if env "$supp" UMN_STRESS_SECONDS="$secs" "$@" \
		"$here/$dir/tests/stress/stress_test_torture" >"$log" 2>&1; then
		leg "$name" ok "($(grep -o 'UMN_SEED=[0-9]*' "$log" | head -1), ${secs}s)"
	else
		leg "$name" FAIL "($(grep -o 'UMN_SEED=[0-9]*' "$log" | head -1)); see $log"
		grep -E 'FAIL|ERROR|WARNING: ThreadSanitizer' "$log" | head -3
	fi
}

# The never-stale oracle: the negative control first (the oracle must see a
# stale hit planted behind umn's back), then SECONDS of churn.
regcache_stale() { # name dir
	local name=$1 dir=$2
	local log=$logdir/$name.log
	local bin=$here/$dir/tests/stress/stress_test_regcache_stale
	local supp="TSAN_OPTIONS=suppressions=$here/tests/tsan.supp detect_deadlocks=1 second_deadlock_stack=1 halt_on_error=1"
	if [ ! -x "$bin" ]; then
		leg "$name" skip "(not built: no <umn/regcache.h>?)"
		return
	fi
	if env "$supp" "$bin" --negative-control >"$log" 2>&1 &&
	   env "$supp" UMN_STRESS_SECONDS="$secs" "$bin" >>"$log" 2>&1; then
		leg "$name" ok "($(grep -o 'UMN_SEED=[0-9]*' "$log" | tail -1), ${secs}s, $(grep -o '[0-9]* stale in [0-9]* hits' "$log" | tail -1))"
	else
		leg "$name" FAIL "($(grep -o 'UMN_SEED=[0-9]*' "$log" | tail -1)); see $log"
		grep -E 'FAIL|STALE|ERROR|WARNING: ThreadSanitizer' "$log" | head -3
	fi
}

# ---- spin ----
if [ -f "$here/verify/spin/run.sh" ]; then
	if bash "$here/verify/spin/run.sh" >"$logdir/spin.log" 2>&1; then
		leg spin ok "$(tail -1 "$logdir/spin.log")"
	else
		leg spin FAIL "see $logdir/spin.log"
	fi
else
	leg spin skip "(verify/spin/run.sh not there yet)"
fi

# ---- fuzzers ----
if "$here/fuzz/run.sh" "$secs" >"$logdir/fuzz.log" 2>&1; then
	leg fuzz ok "$(tail -1 "$logdir/fuzz.log")"
else
	leg fuzz FAIL "$(tail -1 "$logdir/fuzz.log"); see $logdir/fuzz.log"
fi

# ---- torture and misuse, per sanitizer ----
if build build-verify-asan -DUMN_SANITIZE=address,undefined; then
	torture torture-asan build-verify-asan
	regcache_stale regcache-stale-asan build-verify-asan
	if (cd "$here/build-verify-asan" && ctest -L misuse --output-on-failure) \
		>"$logdir/misuse-asan.log" 2>&1; then
		leg misuse-asan ok ""
	else
		leg misuse-asan FAIL "see $logdir/misuse-asan.log"
	fi
else
	leg build-asan FAIL "see $logdir/build-verify-asan.build.log"
fi

if build build-verify-tsan -DUMN_SANITIZE=thread; then
	torture torture-tsan build-verify-tsan
	regcache_stale regcache-stale-tsan build-verify-tsan
	if (cd "$here/build-verify-tsan" && ctest -L misuse --output-on-failure) \
		>"$logdir/misuse-tsan.log" 2>&1; then
		leg misuse-tsan ok ""
	else
		leg misuse-tsan FAIL "see $logdir/misuse-tsan.log"
	fi
else
	leg build-tsan FAIL "see $logdir/build-verify-tsan.build.log"
fi

if grep -q UMN_DEBUG_YIELD "$here/CMakeLists.txt"; then
	if build build-verify-yield -DUMN_SANITIZE=address,undefined \
		-DUMN_DEBUG_YIELD=ON; then
		torture torture-yield-10 build-verify-yield UMN_YIELD_RATE=10
		torture torture-yield-50 build-verify-yield UMN_YIELD_RATE=50
	else
		leg build-yield FAIL "see $logdir/build-verify-yield.build.log"
	fi
else
	leg torture-yield skip "(core has no UMN_DEBUG_YIELD option)"
fi

# ---- mutation testing ----
if bash "$here/verify/mutate.sh" >"$logdir/mutate.log" 2>&1; then
	leg mutate ok "$(tail -1 "$logdir/mutate.log")"
else
	leg mutate FAIL "$(tail -1 "$logdir/mutate.log"); see $logdir/mutate.log"
fi

echo
echo "verify summary (budget ${secs}s per leg, logs in $logdir):"
printf '  %s\n' "${summary[@]}"
echo "verify: $pass passed, $fail failed ($skip skipped)"
[ $fail -eq 0 ]
