#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# usage: test_deb.sh SOURCE_DIR CC
# The Debian packages, end to end, on this machine: configure a Release
# build for /usr, `cpack -G DEB`, check the three packages (libumn0,
# libumn-dev, umn) hold what they should, install them with dpkg, build
# examples/secondary_mmu.c with `pkg-config --cflags --libs umn` alone and
# run it, run `umn selftest` and `man umn_interval_read_begin`, then purge
# the packages and check nothing of them is left.  The machine is left as
# it was found: the packages are removed on every exit path, and the test
# skips (77) when any of them was installed before it started.
set -u
src=$1 cc=$2
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "installing packages needs root"
for t in dpkg dpkg-deb dpkg-shlibdeps cpack cmake pkg-config; do
	command -v $t >/dev/null || skip "$t not installed (dpkg-dev, cmake)"
done
# One run at a time on this machine (other checkouts run this test too).
if [ -z "${UMN_DEB_LOCKED:-}" ] && command -v flock >/dev/null; then
	UMN_DEB_LOCKED=1 exec flock -w 900 /tmp/umn-package-test.lock bash "$0" "$@"
fi
pkgs="umn libumn-dev libumn0"
for p in $pkgs; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
		skip "package $p is already installed: not touching it"
	fi
done

T=$(mktemp -d /tmp/umn-deb.XXXXXX)
installed=0
cleanup() {
	if [ $installed = 1 ]; then
		dpkg -P $pkgs >"$T/purge.log" 2>&1 || cat "$T/purge.log"
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building (Release, prefix /usr) in $T"
cmake -S "$src" -B "$T/b" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	-DUMN_TESTS=OFF -DUMN_BENCH=OFF >"$T/cmake.log" 2>&1 ||
	{ cat "$T/cmake.log"; fail "cmake"; }
nice -n 19 cmake --build "$T/b" -j2 >"$T/build.log" 2>&1 ||
	{ tail -30 "$T/build.log"; fail "build"; }
(cd "$T/b" && cpack -G DEB) >"$T/cpack.log" 2>&1 ||
	{ cat "$T/cpack.log"; fail "cpack -G DEB"; }

debs=()
for p in libumn0 libumn-dev umn; do
	f=$(ls "$T/b/${p}_"*.deb 2>/dev/null) || fail "no $p package"
	debs+=("$f")
	echo "$(basename "$f"): $(dpkg-deb -f "$f" Depends)"
done
# libumn.so dlopens its decoder (no DT_NEEDED): the package must recommend
# the one libumn was built against, a package that exists (installed here).
rec=$(dpkg-deb -f "${debs[0]}" Recommends)
echo "$(basename "${debs[0]}") Recommends: $rec"
case $rec in
libzydis[0-9]*) dpkg -s "$rec" >/dev/null 2>&1 ||
	fail "libumn0 recommends $rec, which is not installed here" ;;
*) fail "libumn0 does not recommend its decoder (libzydis): '$rec'" ;;
esac
has() { dpkg-deb -c "$1" | awk '{print $6}' | grep -q "$2" ||
	fail "$(basename "$1") lacks $2"; }
has "${debs[0]}" '/libumn\.so\.0$'
has "${debs[1]}" '/usr/include/umn/umn\.h$'
has "${debs[1]}" '/usr/include/umn/compat/mmu_notifier\.h$'
has "${debs[1]}" '/pkgconfig/umn\.pc$'
has "${debs[1]}" '/libumn\.so$'
has "${debs[1]}" '/man3/umn_interval_read_begin\.3$'
has "${debs[2]}" '/usr/bin/umn$'
has "${debs[2]}" '/man1/umn\.1$'
if dpkg-deb -c "${debs[0]}" | grep -q 'usr/include'; then
	fail "libumn0 ships headers"
fi

installed=1
dpkg -i "${debs[@]}" >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg -i"; }
echo "installed: $(dpkg-query -W -f='${Package} ${Version}  ' $pkgs)"

# A program built with pkg-config alone, against the installed packages.
env -u PKG_CONFIG_PATH pkg-config --exists umn || fail "pkg-config does not find umn"
"$cc" -D_GNU_SOURCE $(env -u PKG_CONFIG_PATH pkg-config --cflags umn) \
	-o "$T/secondary_mmu" "$src/examples/secondary_mmu.c" \
	$(env -u PKG_CONFIG_PATH pkg-config --libs umn) -pthread ||
	fail "building secondary_mmu.c against the packages"
env -u LD_LIBRARY_PATH "$T/secondary_mmu" >"$T/run.log" 2>&1 ||
	{ cat "$T/run.log"; fail "secondary_mmu"; }
ldd "$T/secondary_mmu" | grep -Eq '=> (/usr)?/lib/[^ ]*libumn\.so\.0 ' ||
	fail "secondary_mmu did not load the packaged libumn"
tail -1 "$T/run.log"

out=$(/usr/bin/umn selftest 2>&1) || { echo "$out"; fail "umn selftest"; }
echo "$out" | tail -1
man -w umn_interval_read_begin >/dev/null 2>&1 || fail "man umn_interval_read_begin"
man -w umn >/dev/null 2>&1 || fail "man 1 umn"

# Remove them again; nothing may be left.
dpkg -P $pkgs >"$T/purge.log" 2>&1 || { cat "$T/purge.log"; fail "dpkg -P"; }
installed=0
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed &&
		fail "$p still installed"
done
[ ! -e /usr/include/umn ] || fail "/usr/include/umn left behind"
! ls /usr/lib/*/libumn.so* /usr/bin/umn >/dev/null 2>&1 || fail "files left behind"
echo "PASS: built, installed, used and purged libumn0, libumn-dev and umn"
