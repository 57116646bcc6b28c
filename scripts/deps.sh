#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install umn's build and test dependencies from Debian (idempotent: does
# nothing when they are all present).  Set UMN_NO_DEPS=1 to skip.
#   build:   build-essential cmake pkg-config liburcu-dev libzydis-dev
#            (site discovery in libumn.so: headers; opened at run time)
#            libcapstone-dev (site discovery in libumn.a: Debian ships its
#            static archive, and none of Zydis, for static programs)
#   tests:   clang + libclang-rt-14-dev (libFuzzer, sanitizer runtimes),
#            libseccomp-dev (the `umn` command's audit oracle: built with
#            it), libxml2-utils librsvg2-bin (the `umn trace --svg` test
#            validates and renders the picture), libucx-dev (UCX coexistence
#            tests and the benchmark baseline), spin (the model check),
#            python3 perl golang-go (programs traced by the audit tests;
#            the Go program is built offline by tool.audit_go),
#            gcovr (the opt-in coverage stage), util-linux (unshare: the
#            fresh-namespace tests)
#   install: systemtap-sdt-dev (<sys/sdt.h>: USDT probes), scdoc (man
#            pages), man-db (tests read the installed pages), dpkg-dev
#            (dpkg-shlibdeps for cpack -G DEB), bpftrace (fires the probes)
set -eu
[ "${UMN_NO_DEPS:-0}" = 1 ] && exit 0
pkgs=(build-essential cmake pkg-config liburcu-dev libzydis-dev
      libcapstone-dev clang
      libclang-rt-14-dev libseccomp-dev libxml2-utils librsvg2-bin libucx-dev
      spin python3 perl golang-go gcovr util-linux systemtap-sdt-dev scdoc
      man-db dpkg-dev bpftrace)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
