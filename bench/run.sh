#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the benchmarks (CMake Release, -O2) and run them all, one after the
# other, then print one table: machine first, then per benchmark the subject
# figure, the baseline figure measured in the same run, the ratio, the
# target and met/missed.  Benchmarks print figures; they never fail on time.
#
#   bench/run.sh [--json FILE] [--quick]
#
# Environment: BUILD_DIR (default build-bench in the source tree).
# The per-benchmark detail goes to $BUILD_DIR/bench-details.log.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
build=${BUILD_DIR:-$src/build-bench}
json=""
quick=()
cmdline="bench/run.sh $*"

while [ $# -gt 0 ]; do
  case "$1" in
    --json) json=$(realpath -m "$2"); shift 2 ;;
    --json=*) json=$(realpath -m "${1#--json=}"); shift ;;
    --quick) quick=(--quick); shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "usage: bench/run.sh [--json FILE] [--quick]" >&2; exit 2 ;;
  esac
done

echo "building (Release) in $build ..." >&2
mkdir -p "$build"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DUMN_BENCH=ON \
  -DUMN_TESTS=OFF >"$build/bench-configure.log" 2>&1 ||
  { cat "$build/bench-configure.log" >&2; exit 1; }
grep -E '^-- bench:' "$build/bench-configure.log" >&2 || true
targets=(bench_table)
for f in "$here"/bench_*.c; do
  n=$(basename "$f" .c)
  targets+=("$n")
done
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >"$build/bench-build.log" 2>&1 ||
  { tail -40 "$build/bench-build.log" >&2; exit 1; }

bin=$build/bench
details=$build/bench-details.log
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
: >"$details"
# One at a time, in the order of the table; never in parallel.
for b in bench_read_retry bench_fastpath bench_scaling bench_readers \
         bench_munmap bench_insert_remove bench_memory bench_regcache \
         bench_regcache_scale bench_regcache_inv; do
  [ -x "$bin/$b" ] || { echo "$b: not built" >&2; continue; }
  echo "running $b ..." >&2
  start=$(date +%s)
  if ! "$bin/$b" "${quick[@]}" >"$rows.out" 2>>"$details"; then
    echo "$b: exited with an error (see $details)" >&2
  fi
  grep -v '^@row' "$rows.out" >>"$details" || true
  grep '^@row' "$rows.out" >>"$rows" || true
  echo "  $b: $(( $(date +%s) - start )) s" >&2
done
rm -f "$rows.out"
echo >&2
args=(--command "$cmdline")
[ -n "$json" ] && args+=(--json "$json")
"$bin/bench_table" "${args[@]}" <"$rows"
echo
echo "detail: $details"
