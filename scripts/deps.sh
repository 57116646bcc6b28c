#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install umn's build and test dependencies from Debian (idempotent: does
# nothing when they are all present).  Set UMN_NO_DEPS=1 to skip.
#   build:   build-essential cmake pkg-config liburcu-dev
#   tests:   clang + libclang-rt-14-dev (libFuzzer, sanitizer runtimes),
#            libseccomp-dev (the audit oracle), libucx-dev (UCX coexistence
#            tests and the benchmark baseline), spin (the model check),
#            python3 perl (programs traced by the audit tests),
#            gcovr (the opt-in coverage stage), util-linux (unshare: the
#            fresh-namespace tests)
set -eu
[ "${UMN_NO_DEPS:-0}" = 1 ] && exit 0
pkgs=(build-essential cmake pkg-config liburcu-dev clang libclang-rt-14-dev
      libseccomp-dev libucx-dev spin python3 perl gcovr util-linux)
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
