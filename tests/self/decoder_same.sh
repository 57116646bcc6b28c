#!/bin/bash
# SPDX-License-Identifier: MIT
# usage: decoder_same.sh ZYDIS_PRELOAD CAPSTONE_PRELOAD -- CMD... [-- CMD...]...
# libumn.so decodes with Zydis and libumn.a with Capstone (decoder.h).
# This runs each CMD with a preload that starts umn through libumn.so and
# with one that starts it through libumn.a, every known function decoded
# whole (UMN_SELF_DISCOVER_FULL=1), and fails unless the sites found
# (UMN_SELF_DISCOVER_DUMP=1: object, offset, number, length) are the same
# and libc's are among them.
ZY=$1
CS=$2
shift 2
[ "$1" = -- ] && shift
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
sites() { # preload cmd... -> sorted site lines on stdout
  local pre=$1
  shift
  UMN_SELF_DISCOVER_DUMP=1 UMN_SELF_DISCOVER_FULL=1 LD_PRELOAD=$pre \
    "$@" 2>"$T/err" >/dev/null
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "decoder_same: '$*' exited $rc ($(basename "$pre")):" >&2
    grep -v '^umn: site' "$T/err" | head -5 >&2
    fail=1
  fi
  grep '^umn: site' "$T/err" | sort -u
}
check() {
  sites "$ZY" "$@" > "$T/zy"
  sites "$CS" "$@" > "$T/cs"
  if ! grep -q '^umn: site libc\.so' "$T/zy"; then
    echo "decoder_same: '$*': no libc site found" >&2
    head -3 "$T/err" >&2
    fail=1
  fi
  if ! diff "$T/zy" "$T/cs" > "$T/diff"; then
    echo "decoder_same: '$*': Zydis (<) and Capstone (>) differ:" >&2
    head -20 "$T/diff" >&2
    fail=1
  else
    echo "decoder_same: '$*': $(wc -l < "$T/zy") sites, the same" \
         "($(cut -d+ -f1 "$T/zy" | sed 's/umn: site //' | sort -u |
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
