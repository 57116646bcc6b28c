/* SPDX-License-Identifier: MIT */
/*
 * USDT probes (provider "umn"), for bpftrace, perf and SystemTap on a
 * production library:
 *
 *   invalidate_start(mm, start, end, event, flags)   notifier.c, slow path
 *   invalidate_end(mm, start, end, event)            notifier.c, slow path
 *   interval_invalidate(sub, start, end, cur_seq, ok) after each interval
 *                                                     callback returned
 *   classic_start(sub, start, end, ret)              after each classic
 *                                                     invalidate_range_start
 *   classic_end(sub, start, end)                     before each classic end
 *   deferred(sub, start, last, cur_seq)              a deferrable range was
 *                                                     refused and deferred
 *   read_retry(sub, seq, cur_seq)                    read_retry said retry
 *   read_begin_wait(sub, seq)                        read_begin must sleep
 *   self_hook(origin, event, start, end, flags)      an event source reports
 *                                                     a range (src/self)
 *
 * They are <sys/sdt.h> probes without semaphores: each is one nop in the
 * code and a note in .note.stapsdt; the arguments are operands the compiler
 * already has at hand (no load is added for them).  A tracer that attaches
 * turns the nop into a breakpoint.  Without <sys/sdt.h> at build time
 * (Debian: systemtap-sdt-dev) they compile to nothing.
 *
 * The probe on read_retry: umn_interval_read_retry() is inline in the
 * user's code.  Its "no retry" path is untouched; only when it is about to
 * say "retry" does it call umn__interval_read_retry_hit() out of line,
 * which holds the probe: the reader is about to redo its work anyway.
 */
#ifndef UMN_PROBES_H
#define UMN_PROBES_H

#if defined(UMN_HAVE_SDT) && UMN_HAVE_SDT
#include <sys/sdt.h>
#define UMN_PROBE2(n, a, b) DTRACE_PROBE2(umn, n, a, b)
#define UMN_PROBE3(n, a, b, c) DTRACE_PROBE3(umn, n, a, b, c)
#define UMN_PROBE4(n, a, b, c, d) DTRACE_PROBE4(umn, n, a, b, c, d)
#define UMN_PROBE5(n, a, b, c, d, e) DTRACE_PROBE5(umn, n, a, b, c, d, e)
#else
#define UMN_PROBE2(n, a, b) do { } while (0)
#define UMN_PROBE3(n, a, b, c) do { } while (0)
#define UMN_PROBE4(n, a, b, c, d) do { } while (0)
#define UMN_PROBE5(n, a, b, c, d, e) do { } while (0)
#endif

#endif /* UMN_PROBES_H */
