#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# usage: test_install.sh BUILD_DIR SOURCE_DIR LIBDIR CC MAN(0|1)
# Installs the build into a scratch prefix the way the README says
# (`cmake --install build --prefix X`), then uses it as a newcomer would:
#  - X/LIBDIR/pkgconfig/umn.pc names X (not the configure-time prefix);
#  - every example of examples/ builds with `pkg-config --cflags --libs umn`
#    alone (PKG_CONFIG_PATH=X/LIBDIR/pkgconfig) and runs (but those that
#    include the in-tree mirror, consumers/mirror, which is not installed),
#    and each opens with a comment that says what it shows;
#  - a program written with the kernel names (<umn/compat/mmu_notifier.h>)
#    builds against the installed headers;
#  - with MAN=1: `MANPATH=X/share/man man -P cat` shows umn(1), a family
#    page and an alias page (umn_interval_read_begin).
set -u
build=$1 src=$2 libdir=$3 cc=$4 man=$5
fail() { echo "FAIL: $*"; exit 1; }
X=$(mktemp -d /tmp/umn-install.XXXXXX) && trap 'rm -rf "$X"' EXIT

cmake --install "$build" --prefix "$X" >"$X.log" 2>&1 ||
	{ cat "$X.log"; rm -f "$X.log"; fail "cmake --install"; }
rm -f "$X.log"
pc=$X/$libdir/pkgconfig/umn.pc
[ -f "$pc" ] || fail "no $pc"
grep -qx "prefix=$X" "$pc" || { cat "$pc"; fail "umn.pc does not name the install prefix $X"; }
export PKG_CONFIG_PATH=$X/$libdir/pkgconfig
flags=$(pkg-config --cflags umn) && libs=$(pkg-config --libs umn) ||
	fail "pkg-config --cflags --libs umn"
pclibdir=$(pkg-config --variable=libdir umn)
echo "pkg-config: $flags $libs"

# Nothing from the source or build tree: only what pkg-config says.
for ex in "$src"/examples/*.c; do
	name=$(basename "$ex" .c)
	# line 1 is the SPDX tag; then the comment, with a sentence in it
	sed -n 2p "$ex" | grep -q '^/\*' && sed -n 3p "$ex" | grep -q '[a-z]' ||
		fail "examples/$name.c does not open with a comment saying what it shows"
	if grep -q '#include "mirror.h"' "$ex"; then
		echo "examples/$name.c: uses the in-tree mirror (not installed): not built here"
		continue
	fi
	"$cc" -D_GNU_SOURCE $flags -Wall -Werror -o "$X/$name" "$ex" \
		$libs -Wl,-rpath,"$pclibdir" -pthread || fail "building $name.c"
	out=$("$X/$name" 2>&1) || { echo "$out"; fail "$name failed"; }
	echo "examples/$name.c: built and ran; $(echo "$out" | tail -1)"
	# an example that calls no umn_ function (trace_demo: `umn trace`
	# injects libumn) need not load it: the linker may drop it, and does
	# in Release, where libumn defines no malloc of its own
	grep -q 'umn_' "$ex" || continue
	ldd "$X/$name" | grep -q "$X/$libdir/libumn.so.0" ||
		fail "$name did not load the installed libumn"
done

cat >"$X/compat.c" <<'PROG'
#include <umn/compat/mmu_notifier.h>
struct dev { struct mmu_interval_notifier mni; int n; };
static bool inv(struct mmu_interval_notifier *mni,
		const struct mmu_notifier_range *range, unsigned long cur_seq)
{
	container_of(mni, struct dev, mni)->n++;
	mmu_interval_set_seq(mni, cur_seq);
	return mmu_notifier_range_blockable(range);
}
static const struct mmu_interval_notifier_ops ops = { .invalidate = inv };
int main(void)
{
	static struct dev d;
	struct mm_struct *mm = umn_mm_new();
	struct mmu_notifier_range r;

	if (mmu_interval_notifier_insert(&d.mni, mm, 4096, 4096, &ops))
		return 1;
	mmu_notifier_range_init(&r, MMU_NOTIFY_UNMAP, 0, NULL, mm, 0, 1 << 20);
	mmap_read_lock(mm);
	mmu_notifier_invalidate_range_start(&r);
	mmu_notifier_invalidate_range_end(&r);
	mmap_read_unlock(mm);
	mmu_interval_notifier_remove(&d.mni);
	mmput(mm);
	return d.n == 1 ? 0 : 2;
}
PROG
"$cc" $flags -Wall -Werror -o "$X/compat" "$X/compat.c" $libs \
	-Wl,-rpath,"$pclibdir" || fail "building against <umn/compat/mmu_notifier.h>"
"$X/compat" || fail "the compat program failed"
echo "compat header: built and ran"

if [ "$man" = 1 ]; then
	command -v man >/dev/null || { echo "SKIP: man not installed"; exit 77; }
	for page in umn_interval_read_begin umn_interval umn_notifier_register \
		    umn_mm_self umn; do
		text=$(MANPATH=$X/share/man MANWIDTH=80 man -P cat "$page" 2>&1) ||
			{ echo "$text"; fail "man $page"; }
		grep -q "$page" <<<"$text" || fail "man $page does not mention $page"
		echo "man $page: $(wc -l <<<"$text") lines"
	done
	[ -z "$(MANPATH=$X/share/man man -w umn_no_such_page 2>/dev/null)" ] ||
		fail "man finds a page that does not exist"
	# Every public function and macro of include/umn/*.h has a page.
	missing=$(python3 - "$src/include/umn" "$X/share/man/man3" <<'PY'
import glob, os, re, sys
names = set()
for h in glob.glob(os.path.join(sys.argv[1], "*.h")):
    t = re.sub(r"/\*.*?\*/", "", open(h).read(), flags=re.S)
    names |= set(re.findall(r"\b(umn_(?!_)\w+)\s*\(", t))
print(" ".join(sorted(n for n in names
      if not os.path.exists(os.path.join(sys.argv[2], n + ".3")))))
PY
)
	[ -z "$missing" ] || fail "no man page for: $missing"
	echo "man: every public function has a page"
fi
echo "PASS: install to a scratch prefix, pkg-config build, run"
