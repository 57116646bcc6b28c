#!/bin/bash
# SPDX-License-Identifier: MIT
# usage: tests/self/bench_real_programs.sh [ROUNDS [BUILD_DIR]]
# Real programs bare, with umn alone (a preload subscribing with a counting
# callback) and under `umn trace -q`, interleaved; prints the median wall
# and task-clock (children included) in ms.  doc/sources.md quotes it.
# BUILD_DIR (default build-rel) needs targets umn_tool, umn_trace and
# self_bench_preload.  UMN_BENCH_ROWS="make awk" runs those rows only.
# UMN_BENCH_PRELOAD="A.so B.so" preloads those in the umn column instead
# (e.g. an empty library and liburcu-bp.so.8: the floor of any preload).
# Not a test.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=$(cd "${2:-$SRC/build-rel}" && pwd)
UMN=$B/tools/umn
PRE=${UMN_BENCH_PRELOAD:-$B/tests/self/libself_bench_preload.so}
R=${1:-5}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
# a site cache of its own (warmed by each row's first runs), neither read
# from nor left in the user's ~/.cache/umn
export XDG_CACHE_HOME=$T/cache
seq 1 400000 | awk '{printf "%08x line %d\n", ($1*2654435761)%4294967296, $1}' > words
{ printf 'all: %s\n' "$(seq -f 't%g' 1 300 | tr '\n' ' ')"
  for i in $(seq 1 300); do echo "t$i: ; @true"; done; } > Makefile
# "build": make -j1 compiling 8 small C files (gcc, cc1 and as per file: the
# processes do some work each), an addition to the 300-shell make row.
mkdir -p "$T/proj"
for i in $(seq 1 8); do
  printf '#include <stdio.h>\nint f%d(int x) { int s = 0; for (int i = 0; i < x; i++) s += i * %d; return s; }\n' "$i" "$i" > "$T/proj/f$i.c"
done
{ printf 'all: %s\n' "$(seq -f 'f%g.o' 1 8 | tr '\n' ' ')"
  printf '%%.o: %%.c\n\tgcc -O2 -c -o $@ $<\n'; } > "$T/proj/Makefile"
declare -a W=(
 "git|git -C $SRC log -p -n 400"
 "tar+xz|tar -cJf $T/src.tar.xz -C $SRC src include"
 "sqlite3|sqlite3 :memory: 'CREATE TABLE t(a,b); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 200000) INSERT INTO t SELECT x, hex(randomblob(16)) FROM c; SELECT count(*) FROM t ORDER BY b;'"
 "python3|/usr/bin/python3 -c 'import json; d=[{\"a\":i,\"b\":[i]*10} for i in range(150000)]; json.loads(json.dumps(d))'"
 "perl|perl -e 'my %h; \$h{\$_}=[1..10] for 1..150000; my \$s=0; \$s+=@{\$h{\$_}} for keys %h; print \$s'"
 "make|make -s -j1 -f $T/Makefile"
 "build|make -s -j1 -B -C $T/proj"
 "sort|sort -o $T/sorted $T/words"
 "awk|awk '{c[substr(\$1,1,4)]++} END{for(k in c) n++; print n}' $T/words"
 "bash|bash -c 'x=0; for i in \$(seq 1 150000); do x=\$((x+i)); done; echo \$x'"
 "gcc|gcc -O2 -c -I$SRC/include -I$SRC/src -D_GNU_SOURCE -o $T/hooks.o $SRC/src/self/hooks.c"
)
one() { # mode cmd -> "wall_ms task_ms"
  local t0 t1 tc
  t0=$(date +%s%N)
  if [ "$1" = bare ]; then
    perf stat -x, -e task-clock -o $T/ps.$$ -- bash -c "$2" >/dev/null 2>&1
  elif [ "$1" = umn ]; then
    LD_PRELOAD=$PRE perf stat -x, -e task-clock -o $T/ps.$$ -- bash -c "$2" >/dev/null 2>&1
  else
    perf stat -x, -e task-clock -o $T/ps.$$ -- $UMN trace -q -o $T/trace.out -- bash -c "$2" >/dev/null 2>&1
  fi
  t1=$(date +%s%N)
  tc=$(grep task-clock $T/ps.$$ | cut -d, -f1)
  echo "$(( (t1-t0)/1000000 )) ${tc%.*}"
}
med() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
printf "%-8s %6s %6s %6s %6s %6s | %6s %6s %6s %6s %6s\n" prog b_wall u_wall t_wall u/b t/b b_cpu u_cpu t_cpu u/b t/b
for w in "${W[@]}"; do
  name=${w%%|*}; cmd=${w#*|}
  if [ -n "$UMN_BENCH_ROWS" ] && [[ " $UMN_BENCH_ROWS " != *" $name "* ]]; then
    continue
  fi
  one bare "$cmd" >/dev/null; one trace "$cmd" >/dev/null   # warm caches
  : > $T/b.$$; : > $T/u.$$; : > $T/t.$$
  for i in $(seq 1 $R); do one bare "$cmd" >> $T/b.$$; one umn "$cmd" >> $T/u.$$; one trace "$cmd" >> $T/t.$$; done
  bw=$(cut -d' ' -f1 $T/b.$$ | med); uw=$(cut -d' ' -f1 $T/u.$$ | med); tw=$(cut -d' ' -f1 $T/t.$$ | med)
  bc=$(cut -d' ' -f2 $T/b.$$ | med); uc=$(cut -d' ' -f2 $T/u.$$ | med); tc=$(cut -d' ' -f2 $T/t.$$ | med)
  printf "%-8s %6s %6s %6s %6.3f %6.3f | %6s %6s %6s %6.3f %6.3f\n" "$name" "$bw" "$uw" "$tw" "$(echo "$uw/$bw" | bc -l)" "$(echo "$tw/$bw" | bc -l)" "$bc" "$uc" "$tc" "$(echo "$uc/$bc" | bc -l)" "$(echo "$tc/$bc" | bc -l)"
done
