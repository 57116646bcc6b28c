#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The whole test suite, as CI runs it:
#   1. Debug build (debug checks on): every ctest test
#   2. ASan + UBSan build: every ctest test
#   3. TSan build: every ctest test
#   4. Release build (no debug checks: the inline fast paths): every test
#   5. debug-yield build (random delays at every protocol step): the stress
#      and acceptance tests
#   6. the spin model check of the protocol (verify/spin/run.sh)
#   7. each libFuzzer target for a short bounded time (fuzz/run.sh)
#   opt-in: coverage (a --coverage Debug build: every ctest test, then
#      line and branch coverage of the core, src/*.c, and of src/self with
#      gcovr; about 10 minutes on 2 busy cores)
# Every ctest stage also runs the "fresh" tests (tests/fresh: the tests that
# depend on machine state, again in new IPC/PID/mount namespaces; skipped
# where unshare is refused), and the ASan stage is built with
# -DUMN_FAULT_INJECT=ON so the allocation-failure sweep (tests/alloc) runs
# under LeakSanitizer.
# Prints a summary line per stage and closes with "N passed, M failed".
#
# Usage: scripts/test.sh [--quick] [--stage NAME]... | --help
#   --quick        debug build only
#   --stage NAME   run only the named stages (debug, asan, tsan, release, yield, spin, fuzz,
#                  coverage)
# Environment: UMN_STRESS_SECONDS (default 3), UMN_FUZZ_SECONDS (default 20),
#              JOBS (default: nproc).
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-$(nproc)}
stress=${UMN_STRESS_SECONDS:-3}
fuzz_seconds=${UMN_FUZZ_SECONDS:-20}
stages=()
quick=0
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--stage) shift; stages+=("$1") ;;
	-h|--help) sed -n '/^# The whole/,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"
		exit 0 ;;
	*) echo "test.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ ${#stages[@]} -eq 0 ]; then
	if [ $quick -eq 1 ]; then stages=(debug); else stages=(debug asan tsan release yield spin fuzz); fi
fi

bash "$root/scripts/deps.sh"

total_pass=0
total_fail=0
summary=()

note() { printf '\n=== %s ===\n' "$*"; }

# ctest_stage NAME CMAKE_ARGS...  (ctest arguments from $CTEST_ARGS)
ctest_stage() {
	local name=$1; shift
	local dir="$root/build-test-$name" log
	note "$name: configure and build ($*)"
	if ! cmake -S "$root" -B "$dir" -DUMN_BENCH=OFF \
		-DUMN_STRESS_SECONDS="$stress" "$@" >"$dir.configure.log" 2>&1 ||
	   ! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
		cat "$dir.configure.log" "$dir.build.log" 2>/dev/null | tail -40
		summary+=("$name: BUILD FAILED")
		total_fail=$((total_fail + 1))
		return
	fi
	note "$name: ctest"
	log="$dir.ctest.log"
	(cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600 ${CTEST_ARGS:-}) 2>&1 | tee "$log"
	local line p f n
	line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1)
	if [ -z "$line" ]; then
		summary+=("$name: ctest printed no summary")
		total_fail=$((total_fail + 1))
		return
	fi
	f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/')
	n=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/')
	p=$((n - f))
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	summary+=("$name: $p passed, $f failed")
}

# script_stage NAME CMD...: the command closes with "<word>: N passed, M failed"
script_stage() {
	local name=$1; shift
	local log="$root/build-test-$name.log" line p f
	note "$name: $*"
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	line=$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	if [ -z "$line" ]; then
		summary+=("$name: no summary (exit $rc)")
		total_fail=$((total_fail + 1))
		return
	fi
	p=$(echo "$line" | sed -E 's/^[a-z]+: ([0-9]+) passed, ([0-9]+) failed.*/\1/')
	f=$(echo "$line" | sed -E 's/^[a-z]+: ([0-9]+) passed, ([0-9]+) failed.*/\2/')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	summary+=("$name: $p passed, $f failed")
}

for s in "${stages[@]}"; do
	case "$s" in
	debug) ctest_stage debug -DCMAKE_BUILD_TYPE=Debug ;;
	asan)  ctest_stage asan -DCMAKE_BUILD_TYPE=Debug -DUMN_SANITIZE=address,undefined \
		-DUMN_FAULT_INJECT=ON ;;
	tsan)  ctest_stage tsan -DCMAKE_BUILD_TYPE=Debug -DUMN_SANITIZE=thread ;;
	release) ctest_stage release -DCMAKE_BUILD_TYPE=Release ;;
	yield) CTEST_ARGS="-L stress|acceptance" UMN_YIELD_RATE=10 \
		ctest_stage yield -DCMAKE_BUILD_TYPE=Debug -DUMN_DEBUG_YIELD=ON ;;
	spin)
		if [ -x "$root/verify/spin/run.sh" ] || [ -f "$root/verify/spin/run.sh" ]; then
			script_stage spin bash "$root/verify/spin/run.sh"
		else
			summary+=("spin: not present")
		fi ;;
	fuzz)
		if [ -f "$root/fuzz/run.sh" ]; then
			script_stage fuzz bash "$root/fuzz/run.sh" "$fuzz_seconds"
		else
			summary+=("fuzz: not present")
		fi ;;
	coverage)
		ctest_stage coverage -DCMAKE_BUILD_TYPE=Debug -DUMN_FAULT_INJECT=ON \
			"-DCMAKE_C_FLAGS=--coverage -fprofile-update=atomic" -DCMAKE_EXE_LINKER_FLAGS=--coverage \
			-DCMAKE_SHARED_LINKER_FLAGS=--coverage
		note "coverage: gcovr (lines and branches)"
		while read -r part filter; do
			echo "-- $part ($filter)"
			(cd "$root" && gcovr --root . --object-directory build-test-coverage \
				--filter "$filter" --print-summary 2>/dev/null \
				--output /dev/null) | grep -E '^(lines|branches):'
		done <<-'EOF'
		core src/[a-z_]*\.c
		self src/self/
		model src/model/
		consumers consumers/
		EOF
		echo "(per file: gcovr --root . --object-directory build-test-coverage --filter 'src/[a-z_]*\.c' [--branches])"
		;;
	*) echo "test.sh: unknown stage '$s'" >&2; exit 2 ;;
	esac
done

note "summary"
for l in "${summary[@]}"; do echo "  $l"; done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
