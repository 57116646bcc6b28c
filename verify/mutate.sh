#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# verify/mutate.sh [ID...]: mutation testing of the Debug suite.
#
# Plants each mutant of verify/mutants.txt (or only the IDs given), one at a
# time, in a scratch copy of the tree (never in this one), rebuilds, runs the
# Debug ctest suite with a time limit, and calls the mutant
#   killed     a test failed (or timed out)
#   SURVIVED   every test passed: a bug the suite does not see
#   stale      its original text is no longer in the file (the code moved:
#              update the list; not counted as killed)
#   ambiguous  its original text occurs more than once (add context lines)
#   nobuild    the mutated tree does not compile (fix the mutant)
#   equivalent listed as equivalent (with the reason): not run unless
#              UMN_MUTATE_EQUIV=1
# and prints "mutate: K killed of N (score P%), S survived, T stale" and the
# survivors.  Tests that already fail on the unmutated tree are excluded.
#
# Environment: UMN_MUTATE_REUSE=1 (keep the scratch build of an earlier run
# in UMN_MUTATE_DIR, copy only changed files), UMN_MUTATE_DIR (scratch, default /tmp/umn-mutate.$$, removed
# at the end unless UMN_MUTATE_KEEP=1), UMN_MUTATE_CTEST (extra ctest
# arguments, e.g. "-R unit" for a quick campaign), UMN_MUTATE_PHASES (label
# groups run in turn, default "unit|misuse|regression|alloc|regcache;
# stress|acceptance|self": tool, config and fresh are left out, they test
# nothing a core mutant changes), UMN_MUTATE_TIMEOUT
# (seconds per test, default 60), UMN_MUTATE_CMAKE (extra cmake options of
# the scratch build, default -DUMN_FAULT_INJECT=ON), UMN_MUTATE_LIMIT (seconds per mutant's
# ctest run, default 600), UMN_MUTATE_TARGETS (what a mutant rebuilds,
# default "umn unit_test_waitq"; "all" for everything), JOBS (default nproc).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
list=$here/verify/mutants.txt
scratch=${UMN_MUTATE_DIR:-/tmp/umn-mutate.$$}
per_test=${UMN_MUTATE_TIMEOUT:-60}
limit=${UMN_MUTATE_LIMIT:-600}
jobs=${JOBS:-$(nproc)}
extra=${UMN_MUTATE_CTEST:-}
py() { python3 "$here/verify/mutate.py" "$@"; }
# What a mutant rebuilds: the library (executables are not relinked, see
# CMAKE_LINK_DEPENDS_NO_SHARED below) and the tests that compile a source
# of src/ themselves.  UMN_MUTATE_TARGETS=all rebuilds everything.
targets=${UMN_MUTATE_TARGETS:-umn unit_test_waitq}
build_targets=
[ "$targets" = all ] || for t in $targets; do build_targets+=" --target $t"; done

# The tree as it is now (committed or not), without build directories.
# UMN_MUTATE_REUSE=1 keeps an earlier scratch build and copies only the
# files that differ (so only what changed is rebuilt).
if [ "${UMN_MUTATE_REUSE:-0}" = 1 ] && [ -d "$scratch/tree" ]; then
	(cd "$here" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			cmp -s "$f" "$scratch/tree/$f" ||
				cp --parents -t "$scratch/tree" "$f"
		done)
else
	rm -rf "$scratch"
	mkdir -p "$scratch/tree"
	(cd "$here" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 cp --parents -t "$scratch/tree" 2>/dev/null)
fi
tree=$scratch/tree
build=$tree/build-mutate
log=$scratch/log
mkdir -p "$log"
echo "mutate: scratch tree $tree"

# Executables need not relink when only libumn.so changed.
# Fault injection on, so that the allocation-failure tests (label alloc) run
# too: some paths (the regcache's locked count) are reached only there.
read -r -a extra_cmake <<<"${UMN_MUTATE_CMAKE:--DUMN_FAULT_INJECT=ON}"
if ! cmake -S "$tree" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DUMN_BENCH=OFF \
	-DCMAKE_LINK_DEPENDS_NO_SHARED=ON "${extra_cmake[@]}" \
	>"$log/configure.log" 2>&1 ||
   ! cmake --build "$build" -j"$jobs" >"$log/build.log" 2>&1; then
	tail -30 "$log/build.log"
	echo "mutate: the unmutated tree does not build"
	exit 2
fi

# Cap every test's timeout (ctest --timeout does not override a test's own
# TIMEOUT property): a mutant that hangs a test costs at most this.
find "$build" -name CTestTestfile.cmake -exec \
	sed -i -E "s/TIMEOUT \"[0-9]+\"/TIMEOUT \"$per_test\"/g" {} +

run_suite() { # logfile [ctest args...]
	local out=$1
	shift
	(cd "$build" && timeout "$limit" ctest -j"$jobs" --timeout "$per_test" \
		--output-on-failure $extra "$@") >"$out" 2>&1
}
# The suite in phases of labels, quick ones first; a mutant's run stops at
# its first failing test.
IFS=';' read -r -a phases <<<"${UMN_MUTATE_PHASES:-unit|misuse|regression|alloc|regcache;stress|acceptance|self}"
run_phases() { # logfile stop(0/1) [ctest args...]
	local out=$1 stop=$2 i rc=0
	shift 2
	: >"$out"
	for i in "${!phases[@]}"; do
		run_suite "$out.$i" -L "^(${phases[$i]})\$" \
			$([ "$stop" = 1 ] && echo --stop-on-failure) "$@" || rc=1
		cat "$out.$i" >>"$out"
		rm -f "$out.$i"
		[ $rc -ne 0 ] && [ "$stop" = 1 ] && break
	done
	return $rc
}

# Baseline: which tests fail with no mutant (excluded from then on).
run_phases "$log/baseline.log" 0
excl=$(grep -E '^[[:space:]]*[0-9]+ - .* \((Failed|Timeout|Not Run|SEGFAULT|Subprocess aborted|Exception)' \
	"$log/baseline.log" | sed -E 's/^[[:space:]]*[0-9]+ - ([^ ]+) .*/\1/' |
	sed 's/\./\\./g' | paste -sd'|')
if [ -n "$excl" ]; then
	echo "mutate: failing without any mutant, excluded: $excl"
	exclude=(-E "^($excl)\$")
else
	exclude=()
fi

ids=("$@")
[ ${#ids[@]} -eq 0 ] && mapfile -t ids < <(py list "$list" | cut -f1)

killed=0 survived=0 stale=0 nobuild=0 equiv=0 total=0
survivors=()
for id in "${ids[@]}"; do
	line=$(py list "$list" | awk -F'\t' -v id="$id" '$1 == id')
	[ -z "$line" ] && { echo "mutate: no mutant '$id'"; exit 2; }
	kind=$(cut -f2 <<<"$line")
	file=$(cut -f3 <<<"$line")
	desc=$(cut -f4 <<<"$line")
	if [ "$kind" = equivalent ] && [ "${UMN_MUTATE_EQUIV:-0}" != 1 ]; then
		equiv=$((equiv + 1))
		printf '%-28s equivalent %s\n' "$id" "$desc"
		continue
	fi
	cp "$tree/$file" "$scratch/orig"
	py apply "$list" "$id" "$tree"
	rc=$?
	if [ $rc -ne 0 ]; then
		stale=$((stale + 1))
		[ $rc -eq 4 ] && what=ambiguous || what=stale
		printf '%-28s %-10s %s: %s\n' "$id" "$what" "$file" "$desc"
		continue
	fi
	total=$((total + 1))
	t0=$(date +%s)
	if ! cmake --build "$build" -j"$jobs" $build_targets \
		>"$log/$id.build.log" 2>&1; then
		result=nobuild
		nobuild=$((nobuild + 1))
	elif run_phases "$log/$id.log" 1 "${exclude[@]}"; then
		result=SURVIVED
		survived=$((survived + 1))
		survivors+=("$id ($file): $desc")
	else
		result=killed
		killed=$((killed + 1))
	fi
	by=$(grep -E '^[[:space:]]*[0-9]+ - ' "$log/$id.log" 2>/dev/null | grep -v Skipped |
		sed -E 's/^[[:space:]]*[0-9]+ - ([^ ]+) .*/\1/' | head -3 | paste -sd,)
	printf '%-28s %-10s %3ss %s%s\n' "$id" "$result" $(( $(date +%s) - t0 )) \
		"$desc" "${by:+  [by $by]}"
	cp "$scratch/orig" "$tree/$file"
	touch "$tree/$file"
done
# Leave the scratch build as it was.
cmake --build "$build" -j"$jobs" >/dev/null 2>&1

counted=$((total - nobuild))
score=0
[ $counted -gt 0 ] && score=$((100 * killed / counted))
echo
if [ ${#survivors[@]} -gt 0 ]; then
	echo "survivors:"
	printf '  %s\n' "${survivors[@]}"
fi
echo "mutate: $killed killed of $counted (score $score%), $survived survived," \
	"$stale stale, $nobuild not built, $equiv equivalent (not run)"
[ "${UMN_MUTATE_KEEP:-0}" = 1 ] || rm -rf "$scratch"
[ $survived -eq 0 ] && [ $stale -eq 0 ] && [ $nobuild -eq 0 ]
