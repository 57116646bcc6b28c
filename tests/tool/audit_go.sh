# SPDX-License-Identifier: MIT
# audit_go.sh UMN SRCDIR BUILDDIR: build the cgo program in SRCDIR (offline,
# module and build caches under BUILDDIR) and run it under
# `umn trace --audit`: its runtime's own madvise(MADV_DONTNEED) system
# calls (inline `syscall` instructions in the executable) must all have
# their umn event.  Skips (77) without a Go toolchain.
set -e
. "$(dirname "$0")/lib.sh"
src=$1
bld=$2
GO=$(command -v go || true)
[ -n "$GO" ] || skip "no go toolchain (golang-go)"
mkdir -p "$bld"
cp "$src/main.go" "$src/go.mod" "$bld/"
(cd "$bld" && GOFLAGS=-mod=mod GOCACHE="$bld/cache" GOPATH="$bld/gopath" \
	GOPROXY=off GO111MODULE=on CGO_ENABLED=1 "$GO" build -o gocgo .) ||
	fail "go build"
run_trace go --audit -- "$bld/gocgo"
check_audit
expect_event clear
grep -q "^go: done" "$TMP/go.stdout" || fail "the program did not finish"
# the runtime's madvise went through a discovered site
calls=$(grep -c "madvise" "$OUT" || true)
echo "ok: $calls trace lines mention madvise"
exit 0
