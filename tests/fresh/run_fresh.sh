#!/bin/sh
# SPDX-License-Identifier: MIT
# run_fresh.sh PROGRAM [ARGS...]: run PROGRAM as on a freshly booted machine:
# in new IPC, PID and mount namespaces with their own /proc, so no SysV
# segment, semaphore or process of the host is visible and the first
# segment created gets the ids a fresh machine gives (0 included).
# PROGRAM runs under a shell (pid 2), not as pid 1, whose signal semantics
# differ.  Exits 77 (skip) with the reason where unshare is refused (no
# CAP_SYS_ADMIN, user namespaces disabled, seccomp).
set -u
if ! err=$(unshare --ipc --pid --mount --fork --mount-proc true 2>&1); then
	# Unprivileged: a user namespace may grant the rest.
	if ! err2=$(unshare --user --map-root-user --ipc --pid --mount --fork \
		--mount-proc true 2>&1); then
		echo "skip: unshare refused here: ${err:-?} / ${err2:-?}"
		exit 77
	fi
	exec unshare --user --map-root-user --ipc --pid --mount --fork \
		--mount-proc sh -c '"$@"' fresh "$@"
fi
exec unshare --ipc --pid --mount --fork --mount-proc sh -c '"$@"' fresh "$@"
