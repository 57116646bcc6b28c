/* SPDX-License-Identifier: MIT */
/*
 * Internal: the registration cache's fork handlers, for a fork that umn
 * runs itself without libc (the safety net's emulated raw fork, see
 * src/self/sud_clone.c), so that its child gets empty caches as a child of
 * libc's fork() does.  Weak: libumn may be built without the cache.
 * prepare takes the cache's global locks (blockable, normal or SIGSYS
 * context of a thread that holds none of them); exactly one of parent (in
 * the parent, also when the fork failed) and child (in the child) follows.
 */
#ifndef UMN_SRC_REGCACHE_FORK_H
#define UMN_SRC_REGCACHE_FORK_H

void umnp_regcache_fork_prepare(void) __attribute__((weak));
void umnp_regcache_fork_parent(void) __attribute__((weak));
void umnp_regcache_fork_child(void) __attribute__((weak));

#endif /* UMN_SRC_REGCACHE_FORK_H */
