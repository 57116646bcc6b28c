# SPDX-License-Identifier: MIT
# audit_missed.sh UMN RAWSYS: a munmap made by an inline syscall instruction
# has no umn event: `umn trace --audit` reports it missed, with its range,
# and exits 3.  (The fast path that matches calls without reading the map
# must not match what no event covers.)
set -e
. "$(dirname "$0")/lib.sh"
rawsys=$1
run_trace rawsys --audit -- "$rawsys"
[ "$RC" = 3 ] || { cat "$ERR"; tail -n 20 "$OUT"; fail "exit $RC, expected 3"; }
addr=$(sed -n 's/^rawsys: done 0x\([0-9a-f]*\)$/\1/p' "$TMP/rawsys.stdout")
[ -n "$addr" ] || fail "rawsys did not run"
grep -q "^umn: audit: missed munmap(0x$addr, 20480) .* no umn event for \[0x$addr-" "$OUT" ||
	{ grep audit "$OUT"; fail "the raw munmap at 0x$addr is not reported missed"; }
grep -q "^audit: [0-9]* calls, 1 missed$" "$OUT" || { tail -n 3 "$OUT"; fail "not exactly 1 missed"; }
echo "ok: $(tail -n 1 "$OUT")"
