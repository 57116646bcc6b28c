#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fuzz/run.sh [--merge] [--build-dir DIR] [SECONDS]
#
# Builds every libFuzzer target (fuzz/fuzz_*.c) with clang in DIR
# (build-fuzz by default), then runs each for SECONDS (default 60) against a
# temporary copy of its corpus fuzz/corpus/<target>/.  With --merge, new
# inputs are merged back into the repository corpus (libFuzzer -merge=1:
# only inputs that add coverage).  Crashes are kept as
# DIR/artifacts/<target>/crash-*; replay one with
#   DIR/fuzz/<target> DIR/artifacts/<target>/crash-...
# Prints one line per fuzzer and a final "fuzz: N passed, M failed".
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build-fuzz
merge=0
secs=60
while [ $# -gt 0 ]; do
	case $1 in
	--merge) merge=1 ;;
	--build-dir) build=$2; shift ;;
	-h|--help) sed -n 3,14p "$0"; exit 0 ;;
	*) secs=$1 ;;
	esac
	shift
done

if ! command -v clang >/dev/null; then
	echo "fuzz: clang not found"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
if ! CC=clang cmake -S "$here" -B "$build" -DUMN_FUZZ=ON -DUMN_TESTS=OFF \
	-DUMN_BENCH=OFF >"$build.configure.log" 2>&1 ||
   ! cmake --build "$build" -j"$(nproc)" --target $(cd "$here/fuzz" &&
	ls fuzz_*.c | sed 's/\.c$//') >"$build.build.log" 2>&1; then
	grep -iE 'error' "$build.configure.log" "$build.build.log" | head -20
	echo "fuzz: build failed"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi

pass=0
fail=0
for src in "$here"/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	bin=$build/fuzz/$name
	corpus=$here/fuzz/corpus/$name
	art=$build/artifacts/$name
	tmp=$(mktemp -d)
	mkdir -p "$corpus" "$art"
	cp -r "$corpus"/. "$tmp"/ 2>/dev/null
	log=$build/$name.log
	"$bin" "$tmp" -max_total_time="$secs" -timeout=60 -max_len=1024 \
		-print_final_stats=1 -artifact_prefix="$art/" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1)
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		echo "fuzz: $name: ok (${secs}s, ${execs:-?} execs, ${cov:-cov: ?}, corpus $(ls "$tmp" | wc -l))"
		if [ $merge -eq 1 ]; then
			"$bin" -merge=1 "$corpus" "$tmp" >"$build/$name.merge.log" 2>&1 &&
				echo "fuzz: $name: merged into fuzz/corpus/$name ($(ls "$corpus" | wc -l) files)"
		fi
	else
		fail=$((fail + 1))
		echo "fuzz: $name: FAILED (exit $rc); see $log and $art/"
		grep -E 'ERROR|mismatch|SUMMARY' "$log" | head -5
	fi
	rm -rf "$tmp"
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
