#!/bin/bash
# SPDX-License-Identifier: MIT
# usage: site_cache.sh PROG [CHAIN [LIB]]
#   PROG: the self_site_cache test program; CHAIN: self_chain, run after a
#   clean process has stored libc's entry (another patcher's jumps over
#   libc's entries: umn must chain to them, not patch sites the cache
#   names further in)
#   LIB: a library with inline system calls (tool_prog_inline_lib), copied
#   to a new file and dlopen'd by a process whose other objects all come
#   from the cache: the decoder is first needed inside the loader's patched
#   mmap, which must not deadlock on discovery's own lock
# The site cache (src/self/sitecache.c), end to end, in a cache directory
# of its own (XDG_CACHE_HOME): a first run decodes and stores, a second
# patches from the cache without loading the decoder and finds the same
# sites; a damaged entry is ignored with a message; an entry whose object
# bytes changed under the same identity is caught by the byte check at the
# site; concurrent first runs leave whole entries; UMN_SELF_CACHE=0 writes
# nothing; the directory stays bounded; a directory others may write is
# not used.
export LC_ALL=C
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp -p "$1" "$T/prog" || exit 1
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# run DIR NAME: the program with cache DIR; stdout NAME.out, stderr
# NAME.err, the sites found NAME.sites; returns the program's status
run() {
  XDG_CACHE_HOME=$1 UMN_SELF_DEBUG=1 UMN_SELF_DISCOVER_DUMP=1 \
    timeout 30 "$T/prog" "${@:3}" >"$T/$2.out" 2>"$T/$2.err"
  local rc=$?
  [ $rc = 124 ] && bad "$2: the program hung for 30 s (killed)"
  grep -E '^umn: site .*\+0x[0-9a-f]+ nr ' "$T/$2.err" | sort >"$T/$2.sites"
  return $rc
}
has() { grep -q -e "$2" "$T/$1" || bad "$1: no '$2'"; }
hasnt() { ! grep -q -e "$2" "$T/$1" || bad "$1: unexpected '$2'"; }
entries() { find "$1/umn" -name '*.sites' 2>/dev/null | wc -l; }

C=$T/cache
mkdir -p "$C"
run "$C" cold || bad "cold run failed: $(cat "$T/cold.out" "$T/cold.err" | tail -5)"
if ! grep -q 'site (executable)+' "$T/cold.sites"; then
  echo "site_cache: no site found in the test program (decoder?): skipped"
  cat "$T/cold.err" | tail -5
  exit 77
fi
has cold.out 'decoder: loaded'
has cold.out 'unmap: seen'
has cold.err 'site cache: (executable): decoded'
[ "$(entries "$C")" -ge 3 ] || bad "cold: $(entries "$C") entries written"

# hit: same sites, from the cache, no decoder
run "$C" warm || bad "warm run failed"
has warm.out 'decoder: not loaded'
has warm.out 'unmap: seen'
has warm.err 'site cache: (executable): [0-9]* sites from the cache'
has warm.err 'site cache: libc.so.6: [0-9]* sites from the cache'
hasnt warm.err 'decoded'
cmp -s "$T/cold.sites" "$T/warm.sites" || bad "warm: other sites than cold"

# damaged entries: ignored with a message, decoded, rewritten
n=0
for f in "$C"/umn/*.sites; do
  case $((n++ % 3)) in
  0) printf 'X' | dd of="$f" bs=1 seek=60 conv=notrunc 2>/dev/null ;;
  1) head -c 50 "$f" >"$f.x" && mv "$f.x" "$f" ;;
  2) echo "not an entry" >"$f" ;;
  esac
done
run "$C" damaged || bad "run with damaged entries failed"
has damaged.err 'site cache: entry ignored (bad checksum)'
has damaged.err 'site cache: entry ignored (not an entry'
has damaged.out 'decoder: loaded'
has damaged.out 'unmap: seen'
cmp -s "$T/cold.sites" "$T/damaged.sites" || bad "damaged: other sites"
run "$C" rewritten || bad "run after rewrite failed"
has rewritten.out 'decoder: not loaded'
hasnt rewritten.err 'ignored'

# a fresh object dlopen'd while every other object came from the cache:
# the decoder is loaded from inside the loader's patched mmap (discovery's
# lock held on this thread): no deadlock, the library's sites decoded
if [ -n "$3" ]; then
  cp "$3" "$T/fresh.so"
  run "$C" fresh "$T/fresh.so" || bad "run with a fresh dlopen failed"
  has fresh.out 'decoder: not loaded'
  has fresh.out 'dlopen: ok'
  has fresh.out 'decoder after dlopen: loaded'
  has fresh.err 'site cache: fresh.so: decoded'
fi

# same identity (inode, size, mtime, build-id), other bytes at the site:
# munmap (11) becomes madvise (28) in the file; the byte check at the site
# must refuse the entry and decoding must find the new number
off=$(grep -obUaP '\xb8\x0b\x00\x00\x00\x0f\x05' "$T/prog" | cut -d: -f1)
if [ "$(echo "$off" | wc -w)" != 1 ]; then
  bad "stale: the site's bytes are not once in the program ($off)"
else
  cp -p "$T/prog" "$T/prog.orig"
  ino=$(stat -c %i "$T/prog")
  printf '\x1c' | dd of="$T/prog" bs=1 seek=$((off + 1)) conv=notrunc 2>/dev/null
  touch -r "$T/prog.orig" "$T/prog"
  [ "$(stat -c %i.%s.%Y "$T/prog")" = "$ino.$(stat -c %s.%Y "$T/prog.orig")" ] ||
    bad "stale: identity changed"
  run "$C" stale   # the munmap is now a madvise: "missed" is expected
  has stale.err 'site cache: (executable): entry stale at'
  has stale.err 'site cache: (executable): decoded'
  s=$(grep 'site (executable)+.* nr 11 ' "$T/cold.sites" | sed 's/ nr 11 / nr 28 /')
  grep -qxF "$s" "$T/stale.sites" || bad "stale: '$s' not found"
  cp "$T/prog.orig" "$T/prog"   # a new inode, a new identity
fi

# a new identity (mtime): ignored as another version
touch -d '2001-01-01' "$T/prog"
run "$C" touched || bad "run after touch failed"
has touched.err 'entry ignored (another version of the object)'
has touched.err 'site cache: (executable): decoded'

# UMN_SELF_CACHE=0: nothing read or written
mkdir -p "$T/off"
UMN_SELF_CACHE=0 run "$T/off" off || bad "UMN_SELF_CACHE=0 run failed"
has off.out 'decoder: loaded'
hasnt off.err 'site cache'
[ "$(entries "$T/off")" = 0 ] || bad "UMN_SELF_CACHE=0 wrote entries"

# concurrent first runs: every entry whole, no temporary file left
P=$T/par
mkdir -p "$P"
for i in 1 2 3 4 5 6 7 8; do run "$P" par$i & done
wait
for i in 1 2 3 4 5 6 7 8; do
  has par$i.out 'unmap: seen'
  hasnt par$i.err 'ignored'   # a reader never sees half an entry
done
[ -z "$(find "$P/umn" -name '*.tmp')" ] || bad "temporary files left"
run "$P" after || bad "run after concurrent writers failed"
has after.out 'decoder: not loaded'
hasnt after.err 'ignored'

# bounded: a directory full of entries is emptied before the next write
B=$T/bound
mkdir -p "$B/umn" && chmod 700 "$B/umn"
for i in $(seq 1 600); do : >"$B/umn/$i.sites"; done
run "$B" bound || bad "run in a full directory failed"
[ "$(entries "$B")" -lt 20 ] || bad "bound: $(entries "$B") entries left"

# a directory others may write: not used
W=$T/open
mkdir -p "$W/umn" && chmod 777 "$W/umn"
run "$W" open || bad "run with an open directory failed"
has open.err 'site cache: not used'
[ "$(entries "$W")" = 0 ] || bad "open directory: entries written"

# another patcher's entry jumps, libc's entry from a clean process
if [ -n "$2" ]; then
  K=$T/chain
  mkdir -p "$K"
  run "$K" chain0 || bad "chain: first run failed"
  XDG_CACHE_HOME=$K "$2" >"$T/chain.out" 2>&1 ||
    bad "chain with a warm cache: $(tail -3 "$T/chain.out")"
fi

[ $fail = 0 ] && echo "site_cache: all checks passed"
exit $fail
