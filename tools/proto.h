/* SPDX-License-Identifier: MIT */
/*
 * The line protocol between libumn-trace.so (in every traced process) and
 * the umn command.  The tool listens on an abstract AF_UNIX SOCK_SEQPACKET
 * socket whose name (without the leading NUL) is in UMN_TRACE_SOCK; each
 * process connects once (again in a fork child) and sends one record per
 * message, each a text line:
 *
 *   R <pid> <ppid> <token> <sources> <mode> <exe>   preload ready: subscribed
 *   E <pid> <tid> <event> <origin> <start> <end> <flags> <ns>  one invalidation
 *   F <pid> <errno> <message>                    preload could not subscribe
 *   T <pid>                                      pid created a thread
 *   C <pid>           the program closed our connection; reconnected
 *   L <pid> <n>       n records could not be sent (lost)
 *   U <pid> <why> <path>  pid execs/spawns path where the preload cannot
 *                     be loaded; why: static, foreign, nopreload
 *
 * pid, ppid, tid, event, origin, errno: decimal.  start, end, flags,
 * sources: hexadecimal without 0x.  ns: CLOCK_MONOTONIC nanoseconds,
 * decimal.  token: 32 hex digits, the 16 AT_RANDOM
 * bytes of the process image (so the supervisor can tell an exec'd image
 * from the one before it).  mode: "classic" or "interval".
 *
 * An E record is sent from inside invalidate_range_start (the interval
 * invalidate callback), i.e. before the real system call: when the
 * supervisor sees the call, the record is already queued on the socket.
 */
#ifndef UMN_TOOL_PROTO_H
#define UMN_TOOL_PROTO_H

#define UMN_TRACE_ENV_SOCK "UMN_TRACE_SOCK" /* abstract socket name */
#define UMN_TRACE_ENV_MODE "UMN_TRACE_MODE" /* classic (default) | interval */
#define UMN_TRACE_ENV_LIB  "UMN_TRACE_LIB"  /* override the preload's path */
#define UMN_TRACE_MAX_RECORD 512
#define UMN_TRACE_TOKEN_BYTES 16

#endif /* UMN_TOOL_PROTO_H */
