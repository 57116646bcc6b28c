#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# verify/spin/run.sh - model-check verify/spin/umn.pml with spin.
#
#   bash verify/spin/run.sh                 full run (what CI calls)
#   bash verify/spin/run.sh --replay-only   only replay the stored trails
#
# Full run: verifies the correct model in three configurations (exhaustive,
# must report 0 errors and a complete search), then each planted bug (must
# report an error of the expected kind); each bug's counterexample is
# copied to tests/regression/spin/<name>.trail and replayed with `spin -t`
# to check that it reproduces.  All spin/pan files live in a temporary
# directory.  One line per check, then "spin: N passed, M failed"; the exit
# status is non-zero if anything failed.  Runs are sequential (one pan at a
# time); the whole run takes about two minutes on an idle machine and needs
# about 3 GB of memory for the largest configuration.

set -u
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
model="$here/umn.pml"
trails="$root/tests/regression/spin"

replay_only=0
case "${1:-}" in
--replay-only) replay_only=1 ;;
"") ;;
*) echo "usage: $0 [--replay-only]" >&2; exit 2 ;;
esac

for tool in spin gcc; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "spin: $tool not found"
		echo "spin: 0 passed, 1 failed"
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/umn-spin.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
cp "$model" "$work/umn.pml"

# pan: exhaustive search with state-vector compression (-DCOLLAPSE), safety
# properties only (assertions and invalid end states), bounded memory so a
# blow-up fails cleanly instead of swapping.
PAN_CFLAGS=(-O2 -w -DSAFETY -DCOLLAPSE -DMEMLIM=4096)
PAN_ARGS=(-m4000 -w24)

passed=0
failed=0

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

ok() { passed=$((passed + 1)); echo "PASS $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# checks: name | expect (pass / assert / deadlock) | spin -D flags
checks=(
	"correct|pass|-DNINV_ITER=2 -DNROUNDS=2 -DNCYCLES=1"
	"correct_reinsert|pass|-DNINV_ITER=2 -DNROUNDS=1 -DNCYCLES=2"
	"correct_deferrable|pass|-DNONBLOCK -DNB_NO_FAIL -DNINV_ITER=2 -DNROUNDS=2"
	"correct_eagain|pass|-DNONBLOCK -DNB_NO_DEFER -DNINV_ITER=2 -DNROUNDS=1"
	"remove_unlocked_seq|assert|-DBUG_REMOVE_UNLOCKED_SEQ"
	"end_even_early|assert|-DBUG_END_EVEN_EARLY"
	"set_seq_after_unlock|assert|-DBUG_SET_SEQ_AFTER_UNLOCK"
	"read_begin_no_wait|assert|-DBUG_READ_BEGIN_NO_WAIT"
	"read_begin_order|assert|-DBUG_READ_BEGIN_ORDER"
	"lost_wakeup|deadlock|-DBUG_LOST_WAKEUP"
	"refuse_no_seq|assert|-DNONBLOCK -DNB_NO_FAIL -DBUG_REFUSE_NO_SEQ"
	"insert_no_collide|assert|-DBUG_INSERT_NO_COLLIDE"
	"remove_no_wait|assert|-DBUG_REMOVE_NO_WAIT"
	"contract_inv6_literal|assert|-DCONTRACT_INV6_LITERAL"
)

# replay <trail> <kind> <dflags...>: does spin -t reproduce the error?
replay() {
	local trail=$1 kind=$2 out
	shift 2
	out=$(cd "$work" && spin -t -k "$trail" "$@" umn.pml 2>&1)
	if ! grep -q 'trail ends after' <<<"$out"; then
		return 1
	fi
	case $kind in
	assert)
		grep -q 'assertion violated' <<<"$out"
		;;
	deadlock)
		# a process other than init is left short of a valid end state
		grep -E '^ *[0-9]+:[[:space:]]+proc +[0-9]+ \(' <<<"$out" |
			grep -v ':init:' | grep -vq 'valid end state'
		;;
	esac
}

run_check() {
	local name=$1 kind=$2 dflags=$3 t0 log states depth errs ptime first
	local -a d
	read -r -a d <<<"$dflags"

	if [ "$replay_only" = 1 ]; then
		[ "$kind" = pass ] && return
		if [ ! -f "$trails/$name.trail" ]; then
			bad "$name: no stored trail $trails/$name.trail"
			return
		fi
		cp "$trails/$name.trail" "$work/stored.trail"
		if replay "$work/stored.trail" "$kind" "${d[@]}"; then
			ok "$name: stored trail reproduces ($kind)"
		else
			bad "$name: stored trail does not reproduce ($kind)"
		fi
		return
	fi

	t0=$(now)
	log="$work/$name.log"
	rm -f "$work/umn.pml.trail" "$work"/pan*
	if ! (cd "$work" && spin "${d[@]}" -a umn.pml >"$log" 2>&1 &&
		gcc "${PAN_CFLAGS[@]}" -o pan pan.c >>"$log" 2>&1); then
		bad "$name: spin -a / gcc failed (see below)"
		tail -5 "$log"
		return
	fi
	(cd "$work" && ./pan "${PAN_ARGS[@]}" >"$log" 2>&1)
	states=$(awk '/states, stored/ { print $1; exit }' "$log")
	depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$log" | head -1)
	errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$log" | head -1)
	ptime=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\).*/\1/p' "$log" | head -1)
	first=$(grep -m1 -E '^pan:1: ' "$log" | sed 's/^pan:1: //' | cut -c1-70)
	local stats="${states:-?} states, depth ${depth:-?}, pan ${ptime:-?}s, wall $(elapsed "$t0")s"

	if grep -qE 'reached -DMEMLIM bound|max search depth too small|out of memory' "$log"; then
		bad "$name: search incomplete ($(grep -m1 -E 'MEMLIM|depth too small|out of memory' "$log")); $stats"
		return
	fi
	if [ -z "$errs" ]; then
		bad "$name: pan gave no result; $stats"
		tail -5 "$log"
		return
	fi

	if [ "$kind" = pass ]; then
		if [ "$errs" = 0 ]; then
			ok "$name: 0 errors, exhaustive; $stats"
		else
			bad "$name: $errs error(s): $first; $stats"
		fi
		return
	fi

	if [ "$errs" = 0 ] || [ ! -f "$work/umn.pml.trail" ]; then
		bad "$name: planted bug NOT found; $stats"
		return
	fi
	case $kind in
	assert) grep -q 'assertion violated' <<<"$first" ;;
	deadlock) grep -q 'invalid end state' <<<"$first" ;;
	esac || {
		bad "$name: found, but not the expected kind ($kind): $first; $stats"
		return
	}
	mkdir -p "$trails"
	cp "$work/umn.pml.trail" "$trails/$name.trail"
	if replay "$trails/$name.trail" "$kind" "${d[@]}"; then
		ok "$name: found ($first), trail replays; $stats"
	else
		bad "$name: found ($first) but spin -t does not reproduce it; $stats"
	fi
}

echo "spin: $(spin -V 2>&1 | head -1)"
for c in "${checks[@]}"; do
	IFS='|' read -r name kind dflags <<<"$c"
	run_check "$name" "$kind" "$dflags"
done

echo "spin: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
