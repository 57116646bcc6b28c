# SPDX-License-Identifier: MIT
# audit_prog.sh UMN NAME EVENTS [trace options] -- CMD...: run CMD under
# `umn trace --audit`; assert 'audit: N calls, 0 missed' (N > 0), exit 0,
# and one event line of each of the comma-separated EVENTS (source patch).
set -e
. "$(dirname "$0")/lib.sh"
name=$1
events=$2
shift 2
run_trace "$name" --audit "$@"
check_audit
IFS=, read -ra evs <<<"$events"
for e in "${evs[@]}"; do
	[ -n "$e" ] && expect_event "$e"
done
grep -q "^umn: summary:" "$OUT" || fail "no summary"
exit 0
