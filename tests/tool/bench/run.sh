#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/tool/bench/run.sh [BUILD_DIR] [REPS]: how much `umn trace --audit`
# costs against plain `umn trace` and the bare program, on the two
# workloads of issue 14: a bash script that runs 1200 subshells (each an
# external program: fork + exec + the dynamic loader's start-up), and 8
# threads mapping, protecting and unmapping memory.  Prints one row per
# workload: the best of REPS (default 3) wall-clock times of each, and the
# ratios.  Not a test (nothing is asserted): run it as
#   flock /tmp/umn-bench.lock nice -n 0 tests/tool/bench/run.sh build
set -eu
build=${1:-build}
reps=${2:-3}
umn=$build/tools/umn
stress=$build/tests/tool/progs/mmap_stress
[ -x "$umn" ] && [ -x "$stress" ] || { echo "build $build first (tools/umn, tests/tool/progs/mmap_stress)" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/umn-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# a site cache of its own (warm after each mode's first run: best of
# $reps), neither read from nor left in the user's ~/.cache/umn
export XDG_CACHE_HOME=$tmp/cache
cat >"$tmp/subshells.sh" <<'SH'
n=0
for i in $(seq 1200); do x=$(/bin/echo "$i"); n=$((n + ${#x})); done
echo "subshells: $n"
SH

# best MODE CMD...: the best wall-clock seconds of $reps runs
best() {
	local mode=$1 b= t0 t1 s i
	shift
	for ((i = 0; i < reps; i++)); do
		t0=$(date +%s%N)
		case $mode in
		bare) "$@" >"$tmp/stdout" ;;
		trace) "$umn" trace -q -o "$tmp/trace.out" -- "$@" >"$tmp/stdout" ;;
		old) "$UMN_OLD" trace --audit -q -o "$tmp/old.out" -- "$@" >"$tmp/stdout" || true ;;
		audit) "$umn" trace --audit -q -o "$tmp/audit.out" -- "$@" >"$tmp/stdout" ||
			{ tail -n 5 "$tmp/audit.out" >&2; echo "audit failed" >&2; exit 1; } ;;
		esac
		t1=$(date +%s%N)
		s=$(( (t1 - t0) / 1000000 ))
		[ -z "$b" ] || [ "$s" -lt "$b" ] && b=$s
	done
	echo "$b"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }

# UMN_OLD=/path/to/another/umn adds a column: its --audit, for a before/after
# comparison in the same run
old=${UMN_OLD:-}
printf "%-30s %9s %9s %9s %11s %11s%s\n" workload bare_ms trace_ms audit_ms \
	trace/bare audit/trace "${old:+   old_audit_ms old/trace}"
row() {
	local name=$1 b t a
	shift
	b=$(best bare "$@")
	t=$(best trace "$@")
	a=$(best audit "$@")
	extra=
	if [ -n "$old" ]; then
		o=$(best old "$@")
		extra=$(printf " %14d %9s" "$o" "$(ratio "$o" "$t")")
	fi
	printf "%-30s %9d %9d %9d %11s %11s%s\n" "$name" "$b" "$t" "$a" \
		"$(ratio "$t" "$b")" "$(ratio "$a" "$t")" "$extra"
	grep "calls needed" "$tmp/audit.out" | sed 's/^/    /'
}
row "bash, 1200 subshells+exec" bash "$tmp/subshells.sh"
row "8 threads mmap/mprotect/munmap" "$stress" 8 2000
echo "(best of $reps; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg))"
