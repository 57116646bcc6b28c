#!/bin/bash
# SPDX-License-Identifier: MIT
# usage: sites_same.sh prefilter UMN_TOOL -- CMD... [-- CMD...]...
#        sites_same.sh decoder ZYDIS_PRELOAD CAPSTONE_PRELOAD -- CMD... [-- CMD...]...
# Runs each CMD twice (without the site cache: UMN_SELF_CACHE=0, so that
# both decode) and fails unless the sites found (UMN_SELF_DISCOVER_DUMP=1:
# object, offset, number, length) are the same both times and libc's are
# among them.
#   prefilter: under `umn trace`, with discovery's prefilter (only the
#     functions whose bytes hold a `0f 05` pair are decoded, up to the last
#     one) and with UMN_SELF_DISCOVER_FULL=1 (every known function whole).
#   decoder: libumn.so decodes with Zydis, libumn.a with Capstone
#     (src/self/decoder.h): with a preload that starts umn through each,
#     every known function decoded whole.
mode=$1
shift
case $mode in
prefilter) UMN=$1; shift 1; A=prefiltered; B=full ;;
decoder) ZY=$1; CS=$2; shift 2; A=Zydis; B=Capstone ;;
*) echo "usage: sites_same.sh prefilter|decoder ..." >&2; exit 2 ;;
esac
[ "$1" = -- ] && shift
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if [ "$mode" = prefilter ] &&
   ! "$UMN" trace -q -o "$T/trace" -- true >/dev/null 2>"$T/err"; then
  echo "sites_same: umn trace cannot run here: skipped" >&2
  head -3 "$T/err" >&2
  exit 77
fi
fail=0
run() { # A|B cmd... : the command, its sites dumped to $T/err
  local which=$1
  shift
  if [ "$mode" = prefilter ]; then
    UMN_SELF_CACHE=0 UMN_SELF_DISCOVER_DUMP=1 \
      UMN_SELF_DISCOVER_FULL=$([ "$which" = B ] && echo 1 || echo 0) \
      "$UMN" trace -q -o "$T/trace" -- "$@"
  else
    UMN_SELF_CACHE=0 UMN_SELF_DISCOVER_DUMP=1 UMN_SELF_DISCOVER_FULL=1 \
      LD_PRELOAD=$([ "$which" = A ] && echo "$ZY" || echo "$CS") "$@"
  fi 2>"$T/err" >/dev/null
}
sites() { # A|B cmd... -> sorted site lines on stdout
  local which=$1 rc
  shift
  run "$which" "$@"
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "sites_same: '$*' exited $rc ($which):" >&2
    grep -v '^umn: site' "$T/err" | head -5 >&2
    fail=1
  fi
  grep '^umn: site' "$T/err" | sort -u
}
check() {
  sites A "$@" > "$T/a"
  sites B "$@" > "$T/b"
  if ! grep -q '^umn: site libc\.so' "$T/a"; then
    echo "sites_same: '$*': no libc site found" >&2
    head -3 "$T/err" >&2
    fail=1
  fi
  if ! diff "$T/a" "$T/b" > "$T/diff"; then
    echo "sites_same: '$*': $A (<) and $B (>) differ:" >&2
    head -20 "$T/diff" >&2
    fail=1
  else
    echo "sites_same ($mode): '$*': $(wc -l < "$T/a") sites, the same" \
         "($(cut -d+ -f1 "$T/a" | sed 's/umn: site //' | sort -u |
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
