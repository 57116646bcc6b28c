/* SPDX-License-Identifier: MIT */
/*
 * umn.pml - a Promela model of umn's interval-subscription protocol
 * (src/interval.c: start / end / insert / remove / read_begin / read_retry,
 * and a subscriber's invalidate callback), checked with spin.
 *
 * WHAT IS MODELLED
 *   One address space: the subscriptions lock `lk`, `seq`, `nactive` (C: active;
 *   `active` is a Promela keyword), the
 *   interval tree and the deferred list (both as a per-subscription state:
 *   S_NONE, S_TREE, S_DEFINS = queued for insertion, S_DEFREM = in the tree
 *   and queued for removal), and the wait queue of src/wait.c: a futex word
 *   `gen` and a `waiters` count.  A waiter counts itself in, then loops
 *   {sample gen; test its condition; futex_wait(gen, sample)}; the end that
 *   makes seq even bumps gen and issues the futex wake only if waiters > 0.
 *   futex_wait parks only if gen still equals the sample (checked and
 *   parked in one step, as in the kernel) and a parked waiter runs again
 *   only when woken (asleep[]), so a skipped wake is a lost wake-up.
 *
 *   Two address pages, 0 and 1, each with a "primary" version number.
 *   Two interval subscriptions: A = [0,0] belongs to the subscriber, which
 *   mirrors page 0 (mirror/mvalid) under its user lock `ul`; B = [1,1]
 *   belongs to the remover and has no mirror.
 *
 *   Processes (all bounded, all terminate):
 *     invalidator(0), invalidator(1): NINV_ITER times each: pick a range
 *       ({0}, {1} or {0,1}, so ranges intersect A, B, both), start; bump
 *       the primary version of every page in the range; end.  With
 *       -DNONBLOCK invalidator NB_ID's ranges are nondeterministically
 *       blockable, non-blockable deferrable (a refusing callback is recorded
 *       as pending and start goes on), or non-blockable failing (a refusal
 *       makes start run end itself and return -EAGAIN; the primary then
 *       changes nothing).  -DNB_NO_DEFER / -DNB_NO_FAIL drop one kind.
 *     subscriber: insert(A) (racing the invalidators), then NROUNDS times:
 *       read_begin; read page 0's version; lock ul; read_retry ? retry :
 *       publish; unlock (and with -DNONBLOCK a lookup that honours refused
 *       ranges); finally drops its mirror and remove(A).
 *     remover: NCYCLES times insert(B); remove(B).
 *
 * WHAT IS CHECKED (contract section 5)
 *   inv 1  at every acquisition of lk: nactive == 0 implies seq even and no
 *          deferred entries; deferred entries exist only while seq is odd.
 *   inv 2  seq is written only by lk's holder, only by becoming odd
 *          (even -> even|1) or by +1 from odd to even (mod SEQMOD, so the
 *          wrap from SEQMOD-1 to 0 is exercised: seq starts at SEQMOD-2).
 *   inv 3  seq becomes even only when nactive has just dropped to 0; the
 *          deferred list is empty when that locked section is left.
 *   inv 4  the tree is modified only under lk and only when seq is even,
 *          or was even when lk was taken (insert's "seq |= 1; insert").
 *   inv 5  every store to a subscription's seq stores an odd value.
 *   inv 6  collision guarantee, at the subscriber's publish (under ul,
 *          read_retry false): the value read equals the primary's current
 *          value; no set_seq on A happened since read_begin returned; no
 *          running invalidation has already called A's callback.  And the
 *          primary never changes page 0 while A's mirror holds a valid
 *          entry (with NONBLOCK: a valid entry that is not marked pending).
 *   inv 7  each start calls the callback of exactly the intersecting
 *          subscriptions that were in the tree when it took the lock, once
 *          each, with seq == cur (odd) during the call.
 *   inv 8  every start has exactly one end (the process structure); nactive
 *          never underflows; at the end of the run everything is idle.
 *   inv 12 no callback of a subscription runs after remove() returned, and
 *          end's deferred-list processing never touches such a one.
 *   plus   no deadlock / lost wake-up: spin's invalid-end-state check (all
 *          processes must reach their end; a waiter left asleep fails it).
 *
 * PLANTED BUGS (compile-time switches; each must produce an error)
 *   BUG_REMOVE_UNLOCKED_SEQ   remove's wait loop reads seq without lk (the
 *                             kernel's pre-2022 race with end).
 *   BUG_END_EVEN_EARLY        end makes seq even, drops lk, then re-takes
 *                             it to apply the deferred list.
 *   BUG_SET_SEQ_AFTER_UNLOCK  the callback calls set_seq after dropping ul.
 *   BUG_READ_BEGIN_NO_WAIT    read_begin does not wait when s == seq.
 *   BUG_READ_BEGIN_ORDER      read_begin loads seq before sub.seq.
 *   BUG_LOST_WAKEUP           a waiter samples gen after checking seq.
 *   BUG_REFUSE_NO_SEQ         (NONBLOCK) a refused callback records the
 *                             pending range but does not store sub.seq.
 *   BUG_INSERT_NO_COLLIDE     insert during partial exclusion (invalidations
 *                             running, seq even) does not make seq odd and
 *                             stores sub.seq = seq - 1 as when idle.
 *   BUG_REMOVE_NO_WAIT        remove queues the removal but does not wait.
 *
 *   CONTRACT_INV6_LITERAL     not a bug: asserts the contract's wording of
 *                             inv 6 literally ("no covering invalidation
 *                             started since read_begin sampled, and none is
 *                             still running").  spin refutes it: a start
 *                             whose callback on the subscription has not
 *                             run yet does not stop publication (nor does
 *                             it in the kernel); the callback still to come
 *                             drops the entry before the primary changes
 *                             the page.  The precise guarantee is inv 6 as
 *                             checked above.
 *
 * ABSTRACTIONS (where the model is not the C code, and why)
 *   - Sequential consistency.  spin interleaves atomic statements; C11's
 *     weaker orderings (relaxed read_retry, the acquire/release pairs of
 *     the lock-free read_begin) are NOT checked here.  The model does show
 *     that the ORDER of read_begin's two loads matters (BUG_READ_BEGIN_ORDER
 *     fails); that the C code's acquire/release make that order hold on
 *     real hardware is an argument, not a spin result.
 *   - A locked section that writes at most one variable read without lk
 *     (seq, by the lock-free read_begin) is one atomic step: no other
 *     process can observe its inside.  end's section is split (seq++, then
 *     one step per deferred entry) because an unlocked reader of seq could
 *     observe it (that is BUG_REMOVE_UNLOCKED_SEQ).  The refusal section
 *     (NONBLOCK) is split too: pending is stored, then sub.seq.
 *   - The callback body under ul (lock, set_seq, drop, unlock) is one step
 *     (its only lock-free reader is read_begin's load of sub.seq); with
 *     BUG_SET_SEQ_AFTER_UNLOCK set_seq is a separate later step.  The
 *     tree walk's "is A in range" test is folded into that step (the tree
 *     is frozen, which the asserts check).
 *   - A wait loop's "sample gen + test the condition" is one step, and so
 *     is the waker's "gen++ + test waiters + futex wake" (see REMOVE_TEST
 *     for why that is sound).  Spurious futex wake-ups are not modelled
 *     (they only add loop turns).
 *   - A range is a set of whole pages lo..hi (inclusive); the C code's
 *     half-open [start, end) against inclusive [start, last] is a unit
 *     test's business, not this model's.
 *   - "use after free" is a ghost flag gone[s] set when remove returns; any
 *     later callback or deferred-list touch of s is an assertion failure.
 *     Re-insertion bumps an incarnation counter so a callback that belongs
 *     to an earlier incarnation is caught too.
 *   - The interval tree is a per-subscription state; the tree walk in start
 *     is a loop reading that state without lk (as the C walk reads nodes
 *     without lk, relying on the tree being frozen while seq is odd).
 *   - Page contents are version numbers; "building the mapping" is reading
 *     the version; the subscriber mirrors one page.
 *   - Classic (SRCU) subscriptions, the mmap lock, teardown, fork and the
 *     event sources are not modelled.
 *   - The bounded counters: seq is taken modulo SEQMOD (16, even, so parity
 *     is kept).  A run makes at most 2 * (invalidations + inserts) changes,
 *     fewer than SEQMOD, so no value is reused within a run (as with a
 *     64-bit seq in practice); wrap itself is exercised.
 *
 * WHERE umn DEPARTS FROM THE KERNEL (and is checked here)
 *   - read_begin is lock-free: load sub.seq, then seq; wait (futex) while
 *     equal.  The kernel takes the subscriptions lock for the comparison.
 *   - remove reads seq under the lock in its wait loop (as the kernel does
 *     since its 2022 fix).
 *   - NONBLOCK deferrable ranges: a callback may refuse; umn then, under
 *     lk, records a pending range on the subscription and stores sub.seq =
 *     cur itself, and start CONTINUES (the kernel has no such kind: a
 *     refusal always fails the start).  The subscriber checks the pending
 *     flag under ul before handing a mirrored entry out and drops the
 *     pending range (take_deferred under lk).  Checked: no entry is handed
 *     out, and no valid entry survives a change of its page, without a
 *     pending mark.  The weaker promise (compared with blocking ranges) is
 *     inherent: a consumer already holding ul may be using an entry while
 *     the primary changes the page; only later hand-outs are protected.
 *   - NONBLOCK failing ranges behave as in the kernel: start stops, runs
 *     end itself and returns -EAGAIN; the primary changes nothing.
 *   - The wait queue counts waiters and skips the futex wake when there
 *     are none (the kernel's wait queue has its own equivalent).
 */

#ifndef NINV_ITER
#define NINV_ITER 2
#endif
#ifndef NROUNDS
#define NROUNDS 2
#endif
#ifndef NCYCLES
#define NCYCLES 1
#endif

#ifndef NB_ID
#define NB_ID 1
#endif
#define NB_NONE  0      /* blockable range */
#define NB_DEFER 1      /* non-blockable, deferrable: a refusal is recorded */
#define NB_FAIL  2      /* non-blockable, not deferrable: a refusal fails start */

#define SEQMOD 16
#define ODD(x) (((x) & 1) == 1)

#define NINV 2
#define NSUB 2
#define SA 0            /* subscriber's subscription, page 0 */
#define SB 1            /* remover's subscription, page 1 */

#define S_NONE   0
#define S_TREE   1
#define S_DEFINS 2      /* on the deferred list, to be inserted */
#define S_DEFREM 3      /* in the tree, on the deferred list to be removed */

#define INTREE(s)   (st[s] == S_TREE || st[s] == S_DEFREM)
#define DEFERRED(s) (st[s] == S_DEFINS || st[s] == S_DEFREM)
#define NODEFERRED  (!DEFERRED(SA) && !DEFERRED(SB))
/* subscription s covers exactly page s; ranges are inclusive pages lo..hi */
#define INTERSECTS(s, lo, hi) ((lo) <= (s) && (s) <= (hi))

#define NOSEQ 255

/* ---- the subscriptions object ---- */
byte lk;                /* owner pid + 1, 0 = free */
byte seq = SEQMOD - 2;
byte seq_acq;           /* ghost: seq when lk was last taken */
byte nactive;
byte st[NSUB];
byte sseq[NSUB];        /* each subscription's own seq */
byte gen;               /* futex word: wake generation */
byte waiters;           /* threads inside a wait (the waker skips the
                         * futex wake when there are none) */
bool asleep[5];         /* by _pid: parked in futex_wait */

/* ---- the subscriber's side ---- */
byte ul;                /* user lock: owner pid + 1 */
bool mvalid;            /* A's mirror holds an entry for page 0 */
bool mfresh;            /* ghost: ... and page 0 has not changed since it was read */
bool rdfresh;           /* ghost: the subscriber's read of page 0 is still current */
bool pending;           /* NONBLOCK: A has a refused range to drop */

/* ---- ghosts ---- */
bool gone[NSUB];        /* remove(s) has returned */
byte inc[NSUB];         /* incarnation (insert count) */
bool cbsince;           /* an invalidation stored sseq[SA] since read_begin returned */
bool startedA;          /* an invalidation covering A started since read_begin's load of sub.seq */
bool runA[NINV];        /* invalidation i covers A (A in tree) and has not ended */
bool cbdoneA[NINV];     /* ... and has already stored sseq[SA] */

inline LOCK()
{
	atomic {
		lk == 0 -> lk = _pid + 1;
		seq_acq = seq;
		assert(nactive > 0 || (!ODD(seq) && NODEFERRED));        /* inv 1 */
		assert(NODEFERRED || ODD(seq));                          /* inv 1 */
	}
}

inline UNLOCK()
{
	assert(lk == _pid + 1);
	lk = 0
}

/* inv 2: the only two ways seq may change */
inline SEQ_MAKE_ODD()
{
	assert(lk == _pid + 1);
	if
	:: !ODD(seq) -> seq = seq | 1
	:: else
	fi
}

inline SEQ_MAKE_EVEN()
{
	assert(lk == _pid + 1 && ODD(seq) && nactive == 0);       /* inv 2, 3 */
	seq = (seq + 1) % SEQMOD
}

/* inv 4 */
#define TREE_MOD_OK (lk == _pid + 1 && (!ODD(seq) || !ODD(seq_acq)))

inline SET_SSEQ(s, v)
{
	assert(ODD(v));                                          /* inv 5 */
	sseq[s] = v
}

/* futex_wait(&gen, g): if gen still equals g, park until a futex wake
 * (checked and parked in one step, as the kernel does); else return. */
inline FUTEX_WAIT(g)
{
	atomic {
		if
		:: gen == g -> asleep[_pid] = true
		:: else
		fi
	};
	!asleep[_pid]
}

/* ------------------------------------------------------------------ */
/* insert(sub)                                                         */
inline insert(s)
{
	atomic {
		LOCK();
		assert(st[s] == S_NONE);
		inc[s]++;
		gone[s] = false;
		if
#ifndef BUG_INSERT_NO_COLLIDE
		:: nactive > 0 ->
#else
		:: ODD(seq) ->
#endif
			if
			:: ODD(seq) -> st[s] = S_DEFINS
			:: else ->
				SEQ_MAKE_ODD();
				assert(TREE_MOD_OK);
				st[s] = S_TREE
			fi;
			SET_SSEQ(s, seq)
		:: else ->
			SET_SSEQ(s, (seq + SEQMOD - 1) % SEQMOD);
			assert(TREE_MOD_OK);
			st[s] = S_TREE
		fi;
		UNLOCK()
	}
}

/*
 * One round of a wait loop's test: sample the futex word, evaluate the
 * condition, and count out of `waiters` when it holds.  The C code does
 * these as separate accesses; merging them is sound here because the only
 * writes another thread can make in between are "seq changes" followed by
 * "gen++, then the wake", and every such interleaving gives the same
 * observations as the merged step placed before, between or after them.
 */
#ifdef BUG_REMOVE_UNLOCKED_SEQ
#define REMOVE_READ_SEQ(c) c = seq
#else
#define REMOVE_READ_SEQ(c) LOCK(); c = seq; UNLOCK()
#endif
inline REMOVE_TEST(g, c, w)
{
	g = gen;
	REMOVE_READ_SEQ(c);
	if
	:: c != w -> waiters--
	:: else
	fi
}

/* read_begin's test; cbsince is reset where read_begin decides to return */
inline READ_TEST(g, s, ok)
{
	g = gen;
	ok = (seq != s);
	if
	:: ok -> cbsince = false; waiters--
	:: else
	fi
}

/* ------------------------------------------------------------------ */
/* remove(sub): after it returns no callback of s runs or will run      */
inline remove(s, w, c, g)
{
	w = NOSEQ;
	atomic {
		LOCK();
		if
		:: ODD(seq) ->
			if
			:: st[s] == S_DEFINS -> st[s] = S_NONE
			:: st[s] == S_TREE -> st[s] = S_DEFREM; w = seq
			:: else -> assert(false)
			fi
		:: else ->
			assert(st[s] == S_TREE && TREE_MOD_OK);
			st[s] = S_NONE
		fi;
		UNLOCK()
	};
#ifdef BUG_REMOVE_NO_WAIT
	w = NOSEQ;
#endif
	if
	:: w != NOSEQ ->
		/* wait_event (src/wait.c): count in as a waiter; loop {
		 * sample gen; test the condition; futex_wait }; count out.
		 * See REMOVE_TEST for why each test is one step. */
		atomic { waiters++; REMOVE_TEST(g, c, w) };
		do
		:: c != w -> break
		:: else ->
			FUTEX_WAIT(g);
			atomic { REMOVE_TEST(g, c, w) }
		od
	:: else
	fi;
	atomic {
		assert(st[s] == S_NONE);                                 /* inv 12 */
		gone[s] = true;
		w = 0; c = 0; g = 0
	}
}

/* ------------------------------------------------------------------ */
/* read_begin(A), lock-free: sub.seq first, then seq; wait while equal  */
inline read_begin(s, c, g, ok)
{
#ifndef BUG_READ_BEGIN_ORDER
	atomic { s = sseq[SA]; startedA = false };
	atomic { c = seq; cbsince = false };
#else
	c = seq;
	atomic { s = sseq[SA]; startedA = false; cbsince = false };
#endif
#ifndef BUG_READ_BEGIN_NO_WAIT
	if
	:: s == c ->
		/* wait until seq != s (wait_event on the futex word) */
#ifndef BUG_LOST_WAKEUP
		atomic { waiters++; READ_TEST(g, s, ok) };
		do
		:: ok -> ok = false; break
		:: else ->
			FUTEX_WAIT(g);
			atomic { READ_TEST(g, s, ok) }
		od
#else
		/* the bug: test first, sample the futex word afterwards */
		atomic { waiters++; READ_TEST(g, s, ok) };
		do
		:: ok -> ok = false; break
		:: else ->
			g = gen;
			FUTEX_WAIT(g);
			atomic { READ_TEST(g, s, ok) }
		od
#endif
	:: else
	fi
#endif
}

/* ------------------------------------------------------------------ */
/* the tree walk's visit of A, with the subscriber's invalidate callback.
 * The walk's "is A in the tree and in range" test is folded into the first
 * step of each way the callback can go (the tree is frozen meanwhile, which
 * the asserts check).  Do NOT wrap this in an atomic: its steps must stay
 * separate (BUG_SET_SEQ_AFTER_UNLOCK, the refusal's two steps). */
#define A_HIT (INTREE(SA) && INTERSECTS(SA, lo, hi))
#define A_CB_PRE \
	assert((snap & 1) && inc[SA] == incA);   /* inv 4, 7: tree frozen */ \
	assert(!gone[SA] && seq == cur)          /* inv 12, 7 */

inline visit_A(id, cur, lo, hi, nb, failed)
{
	if
	:: atomic { A_HIT && ul == 0 ->
		/* lock(ul) (or a trylock that worked, when nb); the
		 * section is one step: its only lock-free reader is
		 * read_begin's load of sub.seq */
		ul = _pid + 1;
		A_CB_PRE;
#ifndef BUG_SET_SEQ_AFTER_UNLOCK
		SET_SSEQ(SA, cur);
		cbsince = true;
		cbdoneA[id] = true;
#endif
		mvalid = false;         /* drop page 0: it is in the range */
		ul = 0;
		called = called | 1
	   };
#ifdef BUG_SET_SEQ_AFTER_UNLOCK
		atomic { SET_SSEQ(SA, cur); cbsince = true; cbdoneA[id] = true }
#else
		skip
#endif
	:: atomic { A_HIT && nb == NB_FAIL && ul != 0 ->
		/* trylock failed on a non-deferrable non-blockable range:
		 * start stops walking, runs end itself and fails with
		 * -EAGAIN; the primary does not change the pages */
		A_CB_PRE;
		failed = true
	   }
	:: atomic { A_HIT && nb == NB_DEFER && ul != 0 ->
		/* trylock failed: the callback refuses; umn records the
		 * range under lk and stores A's seq itself (without ul),
		 * then start goes on */
		A_CB_PRE;
		called = called | 1;
		LOCK();
		pending = true
	   };
#ifndef BUG_REFUSE_NO_SEQ
		atomic { SET_SSEQ(SA, cur); cbsince = true; cbdoneA[id] = true; UNLOCK() }
#else
		UNLOCK()
#endif
	:: atomic { !A_HIT -> skip }
	fi
}

/* ------------------------------------------------------------------ */
proctype invalidator(byte id)
{
	byte it = 0, lo, hi, cur, snap, called, incA, incB;
	byte nb = NB_NONE;
	bool failed;

	do
	:: it < NINV_ITER ->
		/* ---- start (the range is chosen in the same step) ---- */
		atomic {
			if
			:: lo = 0; hi = 0
			:: lo = 1; hi = 1
			:: lo = 0; hi = 1
			fi;
#ifdef NONBLOCK
			/* invalidator NB_ID may run non-blockable ranges
			 * (NB_ID 2: both may) */
			if
			:: id == NB_ID || NB_ID == 2 ->
				if
				:: nb = NB_NONE
#ifndef NB_NO_DEFER
				:: nb = NB_DEFER
#endif
#ifndef NB_NO_FAIL
				:: nb = NB_FAIL
#endif
				fi
			:: else
			fi;
#endif
			LOCK();
			nactive++;
			snap = 0;
			if
			:: INTREE(SA) && INTERSECTS(SA, lo, hi) ->
				snap = snap | 1; incA = inc[SA]; runA[id] = true;
				startedA = true
			:: else
			fi;
			if
			:: INTREE(SB) && INTERSECTS(SB, lo, hi) ->
				snap = snap | 2; incB = inc[SB]
			:: else
			fi;
			if
			:: snap != 0 -> SEQ_MAKE_ODD()
			:: else
			fi;
			cur = seq;
			UNLOCK()
		};
		/* walk the (frozen) tree without lk, calling each callback */
		called = 0;
		if
		:: snap != 0 ->
			visit_A(id, cur, lo, hi, nb, failed);
			if
			:: atomic { !failed && INTREE(SB) && INTERSECTS(SB, lo, hi) ->
				assert((snap & 2) && inc[SB] == incB);
				assert(!gone[SB] && seq == cur);         /* inv 12, 7 */
				SET_SSEQ(SB, cur);
				called = called | 2 }
			:: else
			fi
		:: else
		fi;

		/* ---- the primary changes the pages (one step) ---- */
		atomic {
			assert(called == snap || failed);                /* inv 7 */
			if
			:: lo == 0 && !failed ->
				/* inv 6: never change a page that a valid
				 * (non-pending) mirror entry still holds */
				assert(!(mvalid && !pending));
				mfresh = false;
				rdfresh = false
			:: else
			fi;
			snap = 0; called = 0; incA = 0; incB = 0; lo = 0; hi = 0;
			nb = NB_NONE;
			failed = false
		};

		/* ---- end ---- */
		atomic {
			LOCK();
			assert(nactive > 0);                             /* inv 8 */
			nactive--;
			runA[id] = false;
			cbdoneA[id] = false;
			cur = 0;
			if
			:: nactive == 0 && ODD(seq) -> SEQ_MAKE_EVEN()
			:: else -> assert(NODEFERRED || nactive > 0); UNLOCK(); it++
			fi
		};
		if
		:: lk == _pid + 1 ->
			/* this end made seq even: apply the deferred list in the
			 * same locked section, one entry per step */
#ifdef BUG_END_EVEN_EARLY
			/* re-take lk without LOCK()'s own invariant check, so
			 * the failure has to be seen by someone else */
			UNLOCK();
			atomic { lk == 0 -> lk = _pid + 1; seq_acq = seq };
#endif
			atomic {
				if
				:: st[SA] == S_DEFINS ->
					assert(!gone[SA] && TREE_MOD_OK); st[SA] = S_TREE
				:: st[SA] == S_DEFREM ->
					assert(!gone[SA] && TREE_MOD_OK); st[SA] = S_NONE
				:: else
				fi
			};
			atomic {
				if
				:: st[SB] == S_DEFINS ->
					assert(!gone[SB] && TREE_MOD_OK); st[SB] = S_TREE
				:: st[SB] == S_DEFREM ->
					assert(!gone[SB] && TREE_MOD_OK); st[SB] = S_NONE
				:: else
				fi;
				assert(NODEFERRED);                      /* inv 3 */
				UNLOCK();
				/* wake all (src/wait.c): bump the futex word,
				 * then futex-wake only if someone waits (two
				 * accesses in C, one step here: see REMOVE_TEST) */
				gen++;
				if
				:: waiters > 0 -> asleep[3] = false; asleep[4] = false
				:: else
				fi;
				it++
			}
		:: else
		fi
	:: else -> break
	od
}

proctype subscriber()
{
	byte r = 0, s, c, g, w;
	bool ok;

	insert(SA);
	do
	:: r < NROUNDS ->
again:
		read_begin(s, c, g, ok);
		/* build the mapping: read the primary's page, no lock */
		atomic { rdfresh = true; c = 0; g = 0 };
		/*
		 * The user-lock section.  With blocking callbacks only, nothing
		 * touches sub.seq or the mirror without ul, so the section is
		 * one step.  With NONBLOCK a refusing callback stores sub.seq
		 * without ul: it may land between read_retry and publish.
		 */
		atomic {
			ul == 0 -> ul = _pid + 1;
			if
			:: sseq[SA] != s ->                      /* read_retry */
				ul = 0;
				goto again
			:: else
			fi;
#ifdef NONBLOCK
		};
		atomic {
#endif
			/* inv 6, at publication (pending: a NONBLOCK refusal
			 * came meanwhile; the lookup below drops the entry) */
			assert(pending ||
			       (rdfresh && !cbsince &&
			        !(runA[0] && cbdoneA[0]) &&
			        !(runA[1] && cbdoneA[1])));
#ifdef CONTRACT_INV6_LITERAL
			/* the contract's wording of inv 6, taken literally: no
			 * covering invalidation started since read_begin sampled
			 * and none is running.  Expected to FAIL (see header). */
			assert(!startedA && !runA[0] && !runA[1]);
#endif
			mfresh = rdfresh;
			mvalid = true;
			s = 0;
			ul = 0
		};
#ifdef NONBLOCK
		/* a lookup under ul: honour refused ranges, then hand out */
		atomic {
			ul == 0 -> ul = _pid + 1;
			if
			:: pending ->
				/* take_deferred (under lk), drop the entries */
				LOCK(); pending = false; UNLOCK(); mvalid = false
			:: else ->
				/* hand the entry out: it must be current */
				assert(!mvalid || mfresh)
			fi
		};
		/* a refusal may land here, before ul is dropped */
		ul = 0;
#endif
		r++
	:: else -> break
	od;
	/* tear down: drop the mirror, then unsubscribe */
	atomic { ul == 0 -> ul = _pid + 1; mvalid = false; ul = 0 };
	remove(SA, w, c, g)
}

proctype remover()
{
	byte k = 0, w, c, g;

	do
	:: k < NCYCLES ->
		insert(SB);
		remove(SB, w, c, g);
		k++
	:: else -> break
	od
}

init
{
	atomic {
		run invalidator(0);
		run invalidator(1);
		run subscriber();
		run remover()
	};
	/* everything finished: idle, nothing deferred (inv 1, 8) */
	_nr_pr == 1 ->
	assert(nactive == 0 && !ODD(seq) && NODEFERRED && lk == 0 && ul == 0)
}
