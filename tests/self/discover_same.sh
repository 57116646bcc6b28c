#!/bin/bash
# SPDX-License-Identifier: MIT
# usage: discover_same.sh UMN_TOOL -- CMD... [-- CMD...]...
# Site discovery decodes only the functions whose bytes hold a `0f 05`
# pair, up to the last one (discover.c).  This runs each CMD under
# `umn trace` twice, with that prefilter and with UMN_SELF_DISCOVER_FULL=1
# (every known function decoded from start to end), and fails unless the
# sites found (UMN_SELF_DISCOVER_DUMP=1: object, offset, number, length)
# are the same and libc's are among them.
UMN=$1
shift
[ "$1" = -- ] && shift
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if ! "$UMN" trace -q -o "$T/trace" -- true >/dev/null 2>"$T/err"; then
  echo "discover_same: umn trace cannot run here: skipped" >&2
  head -3 "$T/err" >&2
  exit 77
fi
fail=0
sites() { # full cmd... -> sorted site lines on stdout
  local full=$1
  shift
  UMN_SELF_DISCOVER_DUMP=1 UMN_SELF_DISCOVER_FULL=$full \
    "$UMN" trace -q -o "$T/trace" -- "$@" 2>"$T/err" >/dev/null
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "discover_same: '$*' exited $rc (full=$full):" >&2
    grep -v '^umn: site' "$T/err" | head -5 >&2
    fail=1
  fi
  grep '^umn: site' "$T/err" | sort -u
}
check() {
  sites 0 "$@" > "$T/pre"
  sites 1 "$@" > "$T/full"
  if ! grep -q '^umn: site libc\.so' "$T/pre"; then
    echo "discover_same: '$*': no libc site found" >&2
    head -3 "$T/err" >&2
    fail=1
  fi
  if ! diff "$T/pre" "$T/full" > "$T/diff"; then
    echo "discover_same: '$*': prefiltered (<) and full (>) differ:" >&2
    head -20 "$T/diff" >&2
    fail=1
  else
    echo "discover_same: '$*': $(wc -l < "$T/pre") sites, the same" \
         "($(cut -d+ -f1 "$T/pre" | sed 's/umn: site //' | sort -u |
             tr '\n' ' '))"
  fi
}
cmd=()
for a in "$@" --; do
  if [ "$a" = -- ]; then
    [ ${#cmd[@]} -gt 0 ] && check "${cmd[@]}"
    cmd=()
  else
    cmd+=("$a")
  fi
done
exit $fail
