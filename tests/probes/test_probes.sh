#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# usage: test_probes.sh LIBUMN PROBE_FIRE
# 1. The built library carries every USDT probe of src/probes.h, in
#    provider "umn", without semaphores (readelf -n).
# 2. Where bpftrace can attach uprobes here (root, a kernel that allows
#    it), each probe that probe_fire fires is seen by bpftrace, with the
#    arguments it documents.  Otherwise part 2 is skipped (exit 77 after
#    part 1 passed, with the reason).
set -u
lib=$(readlink -f "$1")
prog=$2
fail() { echo "FAIL: $*"; exit 1; }

notes=$(readelf -n "$lib") || fail "readelf -n $lib"
expected="invalidate_start invalidate_end interval_invalidate classic_start
classic_end deferred read_retry read_begin_wait self_hook"
for p in $expected; do
	grep -q "Name: $p\$" <<<"$notes" || fail "probe umn:$p missing from $lib"
done
n=$(grep -c 'Provider: umn' <<<"$notes")
echo "readelf: $n umn probes in $(basename "$lib")"
grep -A2 'Provider: umn' <<<"$notes" | grep 'Semaphore:' |
	grep -vq 'Semaphore: 0x0*$' && fail "a probe has a semaphore"

# Part 2: fire them.
command -v bpftrace >/dev/null || { echo "SKIP: bpftrace not installed"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: bpftrace needs root"; exit 77; }
out=$(mktemp) && trap 'rm -f "$out"' EXIT
u="usdt:$lib:umn"
script="BEGIN { printf(\"ready\\n\"); }
$u:invalidate_start { printf(\"invalidate_start %x %x %d\\n\", arg1, arg2, arg3); }
$u:invalidate_end { printf(\"invalidate_end %x %x\\n\", arg1, arg2); }
$u:interval_invalidate { printf(\"interval_invalidate %x ok=%d\\n\", arg1, arg4); }
$u:classic_start { printf(\"classic_start %x ret=%d\\n\", arg1, arg3); }
$u:classic_end { printf(\"classic_end %x\\n\", arg1); }
$u:read_retry { printf(\"read_retry seq=%d now=%d\\n\", arg1, arg2); }
$u:deferred { printf(\"deferred %x %x\\n\", arg1, arg2); }"
timeout 60 bpftrace -e "$script" >"$out" 2>&1 &
bt=$!
for _ in $(seq 1 400); do
	grep -q '^ready' "$out" && break
	kill -0 $bt 2>/dev/null || break
	sleep 0.1
done
if ! grep -q '^ready' "$out"; then
	kill -INT $bt 2>/dev/null; wait $bt
	echo "SKIP: bpftrace could not attach here:"; sed 's/^/  /' "$out"
	exit 77
fi
"$prog" || { kill -INT $bt; wait $bt; fail "probe_fire failed"; }
sleep 1
kill -INT $bt; wait $bt
sed 's/^/  bpftrace: /' "$out"
for want in 'invalidate_start 10000 11000 0' 'invalidate_end 10000 11000' \
	    'interval_invalidate 10000 ok=1' 'classic_start 10000 ret=0' \
	    'classic_end 10000' 'read_retry seq=' 'deferred 12000 12fff' \
	    'interval_invalidate 12000 ok=0'; do
	grep -q "^$want" "$out" || fail "bpftrace did not see: $want"
done
echo "PASS: probes listed and fired"
