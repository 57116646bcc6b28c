# SPDX-License-Identifier: MIT
# output.sh UMN TRACE_DEMO FORKS CALLS: the machine-readable output and the
# picture.
#  - --json: every line is one JSON object (parsed by python3, line by
#    line), events carry the documented fields, the summary and (with
#    --audit) the audit result are objects too;
#  - --svg FILE: well-formed XML (xmllint), renders (rsvg-convert) to a
#    non-empty PNG, labels the heap and the stack, marks events.
set -e
. "$(dirname "$0")/lib.sh"
demo=$1 forks=$2 calls=$3 audit=${4:-ON}
# (audit OFF: a sanitizer build, where the audit sees the sanitizer's own
# raw system calls and its allocator makes no [heap]; the JSON is checked
# without the audit, the picture without the heap label)
aopt=--audit
[ "$audit" = ON ] || aopt=
watchdog 120
command -v python3 >/dev/null || skip "python3 is not installed"

run_trace json --json $aopt -- "$forks" "$calls" 1 1
[ "$RC" = 0 ] || { cat "$ERR"; tail "$OUT"; fail "json: exit $RC"; }
python3 - "$OUT" "$audit" <<'PY' || fail "json: see above"
import json, sys
need = {"event": {"time_ns": int, "pid": int, "tid": int, "event": str,
                  "start": str, "end": str, "size": int, "source": str,
                  "flags": int},
        "process": {"time_ns": int, "pid": int, "ppid": int, "exe": str,
                    "sources": str, "mode": str},
        "summary": {"invalidations": int, "processes": int, "programs": int,
                    "threads": int, "by_event": dict, "by_source": dict,
                    "losses": dict, "complete": bool},
        "audit": {"calls": int, "missed": int},
        "message": {"text": str}}
seen = {}
lines = open(sys.argv[1]).read().splitlines()
for n, line in enumerate(lines, 1):
    try:
        o = json.loads(line)
    except ValueError as e:
        sys.exit(f"line {n} is not JSON ({e}): {line[:120]}")
    t = o.get("type")
    if t not in need:
        sys.exit(f"line {n}: unknown type {t!r}")
    for k, ty in need[t].items():
        if not isinstance(o.get(k), ty):
            sys.exit(f"line {n}: {t} without {k} ({ty.__name__}): {line[:160]}")
    if t == "event":
        if int(o["end"], 16) - int(o["start"], 16) != o["size"]:
            sys.exit(f"line {n}: size is not end - start")
    seen[t] = seen.get(t, 0) + 1
want = ("event", "process", "summary") + (("audit",) if sys.argv[2] == "ON" else ())
for t in want:
    if t not in seen:
        sys.exit(f"no {t} object in {seen}")
s = [json.loads(l) for l in lines if '"summary"' in l][0]
if s["processes"] != 4 or s["programs"] != 5 or s["invalidations"] != seen["event"]:
    sys.exit(f"summary counts wrong: {s} (events {seen['event']})")
a = json.loads(lines[-1])
if sys.argv[2] == "ON" and (a != {"type": "audit", "calls": a.get("calls"), "missed": 0} or a["calls"] < 1):
    sys.exit(f"last line is not the audit result: {lines[-1]}")
print(f"ok: --json: {len(lines)} lines, {seen}")
PY

# --json with --verbose: refused (the audited calls are text)
set +e; "$UMN" trace --json -v -- true >/dev/null 2>"$TMP/jv.err"; rc=$?; set -e
[ "$rc" = 125 ] && grep -q "cannot be combined" "$TMP/jv.err" || fail "--json -v: exit $rc"

command -v xmllint >/dev/null || skip "xmllint (libxml2-utils) is not installed"
command -v rsvg-convert >/dev/null || skip "rsvg-convert (librsvg2-bin) is not installed"
for prog in demo forks; do
	if [ $prog = demo ]; then set -- "$demo"; else set -- "$forks" "$calls" 1 1; fi
	run_trace svg_$prog -q --svg "$TMP/$prog.svg" -- "$@"
	[ "$RC" = 0 ] || { cat "$ERR"; fail "svg $prog: exit $RC"; }
	xmllint --noout "$TMP/$prog.svg" || fail "svg $prog: not well-formed XML"
	rsvg-convert -o "$TMP/$prog.png" "$TMP/$prog.svg" || fail "svg $prog: does not render"
	[ "$(stat -c %s "$TMP/$prog.png")" -gt 5000 ] || fail "svg $prog: PNG nearly empty"
	# (the sanitizer's allocator maps its own memory: no [heap] there)
	[ "$audit" != ON ] || grep -q '>\[heap\]' "$TMP/$prog.svg" ||
		fail "svg $prog: the heap is not labelled"
	grep -q '>\[stack\]' "$TMP/$prog.svg" || fail "svg $prog: the stack is not labelled"
	# unmap marks, in unmap's colour, and the legend (a sanitizer build's
	# programs unmap through its interceptors: few events or none)
	if [ "$audit" = ON ]; then
		grep -q 'width="3" height="[0-9]*" fill="#d62728"' "$TMP/$prog.svg" ||
			fail "svg $prog: no unmap mark"
		grep -q '>unmap</text>' "$TMP/$prog.svg" || fail "svg $prog: no legend"
	fi
	echo "ok: --svg $prog: $(stat -c %s "$TMP/$prog.svg") bytes of SVG, renders"
done
grep -q '>process [0-9]* (calls): ' "$TMP/forks.svg" || fail "svg forks: no panel for the exec'd program"
[ "$(grep -c 'class="h">process ' "$TMP/forks.svg")" = 4 ] || fail "svg forks: not 4 panels"
# an unwritable --svg path is an error of the tool, said before CMD runs,
# and the -o file it had created is removed again
cd "$TMP"
set +e
"$UMN" trace -o "$TMP/svg_bad.out" --svg /no/such/dir/x.svg -- "$demo" \
	>"$TMP/svg_bad.stdout" 2>"$TMP/svg_bad.err"
RC=$?
set -e
[ "$RC" = 125 ] && grep -q -- "--svg /no/such/dir/x.svg: No such file or directory" "$TMP/svg_bad.err" ||
	{ cat "$TMP/svg_bad.err"; fail "--svg unwritable: exit $RC"; }
! grep -q "trace_demo: done" "$TMP/svg_bad.stdout" || fail "--svg unwritable: CMD ran"
[ ! -e "$TMP/svg_bad.out" ] || fail "--svg unwritable: the -o file was left behind"
echo "ok: --svg unwritable: 125 before CMD runs"
exit 0
