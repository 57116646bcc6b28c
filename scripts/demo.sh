#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# umn's main job, end to end: install dependencies if missing, build
# (Release), and run `umn trace` on a small program that frees and reallocs
# large blocks and starts threads.  Every invalidation is printed with its
# event, range, thread and source, then a summary table.
set -eu
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DUMN_TESTS=OFF -DUMN_BENCH=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
if [ -x build/tools/umn ] && [ -x build/examples/trace_demo ]; then
	exec build/tools/umn trace -- build/examples/trace_demo "$@"
fi
# Without the tool (a build without src/self): the core example.
exec build/examples/secondary_mmu
