/* SPDX-License-Identifier: MIT */
/*
 * umn: userspace MMU notifiers.  The one header to include.
 *
 *   <umn/mm.h>            address spaces, references, the mmap lock
 *   <umn/notifier.h>      events, ranges, primary-MMU hooks, classic subscriptions
 *   <umn/interval.h>      interval subscriptions, collision-retry protocol
 *   <umn/interval_tree.h> the augmented interval tree
 *   <umn/debug.h>         reports and debug checks
 *   <umn/model.h>         the reference primary MMU (model address space)
 *   <umn/self.h>          the real process: umn_mm_self() and event sources
 */
#ifndef UMN_UMN_H
#define UMN_UMN_H

#include <umn/config.h>
#include <umn/mm.h>
#include <umn/notifier.h>
#include <umn/interval.h>
#include <umn/interval_tree.h>
#include <umn/debug.h>
#include <umn/self.h>
#if __has_include(<umn/model.h>)
#include <umn/model.h>
#endif

#endif /* UMN_UMN_H */
