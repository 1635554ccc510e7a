"""The remote fast path: changes of one op, and changes of several text ops (a text
typed whole among them), on one or two deps the document has.

A peer typing sends one such change per keystroke: one INS of a string, or one REM, whose
only dep is the previous change; an application editing fields of its objects sends one SET
of a scalar at a map key per edit.  Decoding each one into an :class:`UnverifiedChange`,
then verifying it op by op against any history, costs about three times the work the
shape needs (a dozen calls, tuples for every op id, the general checks of every op
kind), and that work is most of applying a per-keystroke history.

:func:`apply_fast` takes such changes from a batch one after the other and does, in one
loop, exactly the checks :func:`crdt.change.decode_change` and ``Doc._apply_verified`` do
for this shape (SPEC.md sections 4-6): well formed, canonical, hashed, its deps known, the
author's next seq, the next start_op, every id it names already in the document and
earlier than the op (a SET's preds too: ops this document has).  Made on the only head (or
on all the heads), everything in the document is in the change's causal past; otherwise
(peers typing at once) the general path's causality check decides: most often as it
does first, without a clock (``History.shown_past``), else by calling it
(``Doc._check_causality``).  Most of a peer's keystrokes each continue the one before:
once one has gone the whole way, the keystrokes after it are told by comparing a few of
their fields with it, and their text extends the run it went into in one go when the
typing stops.  A change of several text ops (a selection typed over) goes to
:func:`_text_ops`, which checks every id before it applies any op (an id the change's
own ops make, by the counters), or, made on all the heads, if the text has no elements
yet (a document typed whole, sent in one change), lays all of its ops out at once with
:mod:`crdt.fill`; so too if the change makes the text first, at a key of a map
(:func:`_made_whole`), as a new document's first change, on nothing, does.
The path is conservative: at the first change that does not have the shape, or fails any
check, it stops and leaves that change to the general path, which applies it or raises
the error it deserves.  So this path decides nothing the
general path would decide differently, and never raises on input;
``tests/test_fastpath.py`` checks both paths give the same documents, results and errors
on valid and damaged histories.

Most of those checks are on the bytes: regexes (:func:`_grammar`) match the canonical
encoding of the shape, so a change they take needs no type tested and no packing again to
be shown canonical (``tests/test_fastpath_grammar.py`` writes every field in every
encoding to show it takes the canonical ones only).  What is left to the loop is meaning:
the deps, seq and counters against the document, the ids against its objects, and a
SET's op, whose values the grammar leaves to it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from . import change as _change
from .change import Change, new_hasher
from .codec import pack_lists, unpack
from .errors import InvalidChangeError
from .fill import Plan, can_fill, fill, gather
from .ids import MAX_ACTOR_LEN
from .op import INS as _INS
from .op import MAKE as _MAKE
from .op import REM as _REM
from .op import SET as _SET
from .patches import Patch, path_of
from .values import INT64_MAX, INT64_MIN, ObjType

if TYPE_CHECKING:
    from .doc import Doc
    from .opset import OpSet

_TEXT, _MAP = ObjType.TEXT, ObjType.MAP
_Pattern = re.Pattern[bytes]


def _grammar() -> tuple[_Pattern, _Pattern, _Pattern, _Pattern]:
    """The canonical msgpack of the changes this path takes (SPEC.md section 4), as
    regexes over their bytes: one op that is an INS or REM of text, or a SET (group 1: its
    bytes); second, a change of two ops or more on one dep (group 1: the dep), two
    (sorted: tested after) or none, whose first op is an INS or REM, or the MAKE of a
    text at a key of up to 31 bytes with no pred followed by an INS, after MAKEs of maps
    of the same form (group 2: where the INS and REM ops begin); of those it tests the
    header and those MAKEs.  The third and fourth test the INS and REM ops after them
    (:func:`_canonical_text_ops`): a run of them, and an INS of a string too long for the
    run.

    A change matching the first is well formed, canonical and typed as ``decode_change``
    demands, up to the lengths of its last string (``unpack`` checks them) and, for a
    SET, the op (checked by the loop, and by packing the change again); so is a change of
    several ops that the second and :func:`_canonical_text_ops` take (``unpack`` checks
    the length of its ops array and its strings' UTF-8).  The grammar is narrower than
    the format: a message of at most 31 bytes, at most two actors in the table, the ids
    of text ops naming the author or one of them (a MAKE's, the author or the first),
    counters up to INT64_MAX.  A regex tests the bytes in C: the same tests on the
    unpacked values took a quarter of the work of a remote keystroke, and with packing
    the change again, a fifth of a text typed whole.
    """

    def lp(base: int, lens: list[int], prefix: bytes = b"") -> bytes:
        # a length-prefixed item: one alternative per length (a regex cannot count), tried
        # in the order given (each starts with its own length byte: any order matches the
        # same bytes, but each one tried first costs a few instructions)
        alts = [prefix + re.escape(bytes([base + n])) + b".{%d}" % n for n in lens]
        return b"(?:" + b"|".join(alts) + b")"

    # a uint in its shortest form, up to INT64_MAX; with and without 0
    wide = rb"\xcc[\x80-\xff]|\xcd(?!\x00)..|\xce(?!\x00\x00)....|\xcf(?!\x00{4})[\x00-\x7f].{7}"
    uint = rb"(?:[\x00-\x7f]|" + wide + b")"
    positive = rb"(?:[\x01-\x7f]|" + wide + b")"
    # bin 8 of 1-64 bytes; 16 first, the length of the actors new_actor makes
    actor = lp(0, [16, *range(1, 16), *range(17, MAX_ACTOR_LEN + 1)], b"\xc4")
    message = rb"(?:\xc0|" + lp(0xA0, list(range(32))) + b")"  # nil, or a fixstr
    dep = rb"\xc4\x20.{32}"
    deps = rb"(?:\x91" + dep + rb"|\x92" + dep + dep + b")"  # (sorted: tested after)
    table = rb"(?:\x90|\x91" + actor + rb"|\x92" + actor + actor + b")"
    opid = rb"\x92" + uint + rb"[\x00-\x02]"  # [counter, actor index 0, 1 or 2]
    # the string inserted: a str in its shortest header, not empty; its bytes run to the end
    text = rb"(?:[\xa1-\xbf]|\xd9[\x20-\xff]|\xda(?!\x00)..|\xdb(?!\x00\x00)....).*"
    ins = re.escape(bytes([_INS])) + opid + opid + text
    rem = re.escape(bytes([_REM])) + opid + opid + positive
    op = rb"\x91(?:\x94(?:" + ins + b"|" + rem + rb")|(\x95" + re.escape(bytes([_SET])) + b".*))"
    head = rb"\x99\x01" + actor + uint + uint + uint + message + deps + table
    several = (
        rb"\x99\x01"
        + actor
        + uint
        + uint
        + uint
        + message
        + rb"(?:\x90|\x91\xc4\x20(.{32})|\x92"
        + dep
        + dep
        + b")"
        + table
    )

    def make(kind: int) -> bytes:  # the MAKE of a ``kind`` at a map key, overwriting nothing
        return (
            rb"\x95"
            + re.escape(bytes([_MAKE]))
            + rb"(?:\xc0|\x92"
            + uint
            + rb"[\x00\x01])"
            + lp(0xA0, list(range(32)))
            + re.escape(bytes([kind]))
            + rb"\x90"
        )

    # 2 to 15 ops, or more (array 16 and 32, in their shortest form), the first an INS or
    # REM, or the MAKE of a text, then an INS; maps it makes before the text may hold it,
    # or each other (_made_whole tests where each goes).  Group 2 (empty) marks where the
    # INS and REM ops begin, for the third pattern.  A change of other ops is unpacked
    # once, by the general path.
    arr = rb"(?:[\x92-\x9f]|\xdc(?!\x00[\x00-\x0f])..|\xdd(?!\x00\x00)....)"
    ins_ = re.escape(bytes([_INS]))
    makes = b"(?:(?:" + make(_MAP) + b")*" + make(_TEXT) + rb"(?=\x94" + ins_ + b"))?"
    first = rb"()\x94[" + re.escape(bytes([_INS, _REM])) + b"]"
    # A run of INS and REM ops of text, each canonical and typed: the ids [uint, 0 to 2],
    # an INS's reference such an id or nil, its string not empty and of up to 255 bytes
    # (each length its own alternative: a regex cannot count), a REM's count positive.
    # An INS of a longer string stops the run: the fourth pattern reads its length.
    str8 = rb"\xd9(?:" + b"|".join(re.escape(bytes([n])) + b".{%d}" % n for n in range(32, 256))
    counted = b"(?:" + lp(0xA0, list(range(1, 32))) + b"|" + str8 + b"))"
    text_ins = rb"\x94" + ins_ + opid + rb"(?:\xc0|" + opid + b")"
    text_rem = rb"\x94" + re.escape(bytes([_REM])) + opid + opid + positive
    text_op = b"(?:" + text_ins + counted + b"|" + text_rem + b")"
    return (
        re.compile(head + op, re.DOTALL),
        re.compile(several + arr + makes + first + b".*", re.DOTALL),
        # (possessive: sre keeps no state to backtrack into, 45% fewer instructions)
        re.compile(b"(?:" + text_op + b")*+", re.DOTALL),
        re.compile(text_ins + rb"(?:\xda(?!\x00)(..)|\xdb(?!\x00\x00)(....))", re.DOTALL),
    )


_one, _several, _run, _long = _grammar()
_ONE_OP = _one.fullmatch
_TEXT_OPS = _several.fullmatch
_TEXT_RUN = _run.match
_LONG_INS = _long.match


def _canonical_text_ops(raw: bytes, pos: int) -> bool:
    """Whether ``raw[pos:]`` is INS and REM ops of text back to back, each canonical and
    typed: ids ``[uint, 0 to 2]``, an INS's reference such an id or nil and its string not
    empty, a REM's count positive.  A regex cannot count, so the third pattern of
    :func:`_grammar` spells out each length of string up to 255 bytes, and an INS of a
    longer one (a paste) is read by its length here.  O(bytes)."""
    n = len(raw)
    run = _TEXT_RUN
    while True:
        pos = run(raw, pos).end()  # type: ignore[union-attr]
        if pos == n:
            return True
        m = _LONG_INS(raw, pos)
        if m is None:
            return False
        pos = m.end() + int.from_bytes(m[1] or m[2], "big")
        if pos > n:
            return False


def apply_fast(doc: Doc, changes: list[Any], k: int, applied: list[Change]) -> int:
    """Apply ``changes[k]``, ``changes[k + 1]``, ... while each is encoded bytes of a
    one-op change (an INS or REM of text, or a SET of a scalar at a map key) on one or two
    deps that ``doc`` has, or of several text ops on such deps (:func:`_text_ops`);
    returns the index of the first change left to the general path (``len(changes)`` if
    none).

    The caller has checked that ``doc`` may take this path: no buffered changes.  If it
    has observers (its ``OpSet`` collects patches), every op goes through ``OpSet.apply``,
    as in the general path, which tells the same patches; a text typed whole is then left
    to the general path.  On a document loaded from a snapshot or a saved document it
    takes only changes whose deps are in the history (after the cut, which they so
    descend from): one on the cut's heads, or on nothing, is the general path's (which
    rejects what does not descend from a snapshot's cut, and decodes a saved document's
    history for it).
    O(1) per change beyond the op itself on the heads; otherwise the causality check of the
    general path: O(log changes) per id the op names when ``History.shown_past`` shows
    them, else a clock of the deps.
    """
    raw = changes[k]
    if type(raw) is not bytes:
        return k
    m0 = _ONE_OP(raw)  # (the loop's first change takes it, not a second match)
    if m0 is None and _TEXT_OPS(raw) is None:
        return k  # (before any setup: in a history of other changes, every one comes here)
    h = doc._history
    heads = h.heads_idx()  # (live: History.add and add_chain update it; stale while a run waits)
    objs = doc._opset.objs
    start, n_ops, seq_of, add, number = h.start, h.n_ops, h.seq_of, h.add, h.number
    causality = doc._check_causality
    shown_past = h.shown_past
    # a saved document loaded lazily: its checkpoint knows the live value ops, not every
    # op before it, so a pred naming another such op is the general path's to check (it
    # decodes the history)
    lazy = doc._deferred is not None
    # observed: every op's patch is the general path's, op for op (no typing deferred, no
    # fill): OpSet.apply's own, or, for a text's insert, backspace or forward delete, told
    # by OpSet's method for it after the same change to the sequence
    observed = doc._opset.patches is not None
    max_op = doc._max_op
    app = applied.append
    apply_op = doc._opset.apply
    opset_patch_insert: Any = doc._opset._patch_insert  # (st is known to be set there)
    no_preds: list[Any] = []  # (never changed)
    last: Any = None  # the author of the change applied last, and its seq
    last_seq = 0
    # A run of changes by one author, each on the one before (a peer typing), waits at the
    # end of ``applied`` and goes to the history in one History.add_chain: each change's
    # own History.add is a dozen Python steps.  Nothing below reads the history while a
    # run waits, but for lookups of deps and the causality check, which record it first.
    run_first = -1  # the change the waiting run starts on (the only head then); -1: none
    run_from = 0  # where the run starts in ``applied``

    def record_run() -> None:
        nonlocal run_first
        if run_first >= 0:
            if run_from == len(applied) - 1:  # (one change: add's steps, not add_run's lists)
                add(applied[run_from], (run_first,), True)
            else:
                h.add_chain(run_first, applied[run_from:])
            run_first = -1

    # the only head, if there is one (hh is b"" otherwise: no dep), and one past its last op
    hh = b""
    hi = hnxt = -1
    if len(heads) == 1:
        ((hi, hh),) = heads.items()
        hnxt = start[hi] + n_ops[hi]
    # no change at all, nor a snapshot cut: a change on no dep may be the document's first
    fresh = not heads and doc._base is None
    max_bytes = _change.MAX_CHANGE_BYTES  # (the general path refuses more; tests lower it)
    n = len(changes)
    # A peer typing on: each change the next keystroke after the one before, in the run
    # its last insert went into.  Once one such change has gone the whole way below, the
    # ones that continue it are told by a few comparisons with it, and their text waits
    # in ``typed`` to extend the run at once when the typing stops: per keystroke, the
    # lookups of the object and the run are skipped, and the run's string is copied once
    # per stop, not per keystroke (``Run.extend`` makes a new string: 40,000 keystrokes
    # in one run cost 55K instructions each, 27K now).
    typed: list[str] | None = None  # the text of the waiting keystrokes; None: none wait
    t_sq: Any = None  # the sequence they go into
    t_run: Any = None  # the run they extend
    t_table: Any = None  # the actor table of the change that began the typing
    t_obj: Any = None  # its op's object id, as encoded (an index into that table)
    # A for loop, not ``while k < n``: CPython 3.11 specialises a function's bytecode at
    # its eighth call or at the eighth backward jump of a ``for`` (or ``while True``)
    # loop, but a ``while <test>`` loop jumps back by its test, which does not count.
    # Called once per batch, this loop ran generic: 18% more instructions per change.
    first = k
    for k in range(first, n):  # (k after a break: the first change left to the general path)
        raw = changes[k]
        if type(raw) is not bytes or len(raw) > max_bytes:
            break
        m: re.Match[bytes] | None
        if m0 is not None:
            m = m0
            m0 = None
        else:
            m = _ONE_OP(raw)
        if m is None:
            several = True
            # several text ops (a selection typed over, say), on one dep or after a merge
            m = _TEXT_OPS(raw)
            if m is None:
                break
            if typed is not None:  # (max_op: this change, or the general path, moves it)
                t_sq.extend_typing(t_run, "".join(typed))
                typed = None
                if hnxt - 1 > max_op:
                    max_op = hnxt - 1
            try:
                top = unpack(raw, use_list=False)  # (tuples: cheaper to make and free)
            except Exception:  # (a string's length or UTF-8 wrong) the general path says how
                break
            _, actor, seq, start_op, time, message, deps, table, ops = top
        else:
            several = False
            try:
                top = unpack(raw)
            except Exception:  # (a string's length or UTF-8 wrong) the general path says how
                break
            _, actor, seq, start_op, time, message, deps, table, (op,) = top
        if typed is not None:  # (several: flushed above)
            # the author on the only head, its next seq and counter, the same actor table
            # (so the same object, and the author named by index 0), a text op
            if (
                seq == last_seq + 1
                and start_op == hnxt
                and actor == last
                and deps[0] == hh
                and len(deps) == 1
                and table == t_table
                and m.lastindex is None
            ):
                a, o, (rc, ri), x = op
                # an INS after the author's last element: the end of the run typed into
                if a == _INS and rc == start_op - 1 and not ri and o == t_obj:
                    size = len(x)
                    if start_op + size - 1 <= INT64_MAX:
                        hasher = new_hasher()
                        hasher.update(raw)
                        hsh = hasher.digest()
                        app(
                            Change(actor, seq, start_op, time, message, (hh,), None, raw, hsh, size)
                        )
                        typed.append(x)
                        hi += 1
                        hh = hsh
                        hnxt = start_op + size
                        last_seq = seq
                        continue
            t_sq.extend_typing(t_run, "".join(typed))
            typed = None
            if hnxt - 1 > max_op:
                max_op = hnxt - 1
        if len(deps) == 1:
            d = deps[0]
            if d == hh:  # the only head: its past is the whole document
                dep_idx: tuple[int, ...] = (hi,)
                dep_hashes: tuple[bytes, ...] = (d,)
                nxt = hnxt
                at_heads = linear = True
            else:  # a change this document has, not its only head
                record_run()
                linear = False
                j = number(d)
                if j is None:
                    break  # (missing: the general path buffers it)
                dep_idx = (j,)
                dep_hashes = (d,)
                nxt = start[j] + n_ops[j]
                at_heads = False
        elif deps:  # made just after a merge (sorted, as decode_change demands)
            record_run()
            linear = False
            d, d2 = deps
            if not d < d2:
                break
            i1 = number(d)
            i2 = number(d2)
            if i1 is None or i2 is None:
                break
            dep_idx = (i1, i2)
            dep_hashes = (d, d2)
            nxt = max(start[i1] + n_ops[i1], start[i2] + n_ops[i2])
            at_heads = len(heads) == 2 and i1 in heads and i2 in heads
        else:  # on nothing (several ops only: the grammar): the document's first change
            if not fresh:
                break
            dep_idx = dep_hashes = ()
            nxt = 1
            at_heads = True
            linear = False
        if start_op != nxt:
            break
        known = last_seq if actor == last else seq_of(actor)  # (a peer typing: the former)
        if seq != known + 1:
            break
        preds = no_preds  # (the pred ids of a SET; none for text)
        text = m.lastindex is None  # (group 1, a SET's op, did not match)
        if several:
            # every id checked (those outside the change go to ``refs`` for the causality
            # check below), nothing applied yet: unless typed whole, on all the heads
            refs: list[Any] | None = None if at_heads else []
            got = _text_ops(objs, apply_op, top, raw, m.start(2), dep_hashes, refs, observed)
            if got is None:
                break
            c, sq, names = got
            hsh = c.hash
            size = c.n_ops
        elif text:  # INS or REM of text: the grammar has tested every type
            a, (oc, oi), (rc, ri), x = op
            # (an object or element found below is earlier than this op: on the only head,
            # every counter in the document is below start_op; on one of several, the
            # causality check below puts every id the op names in its dep's past, where they
            # are too)
            if table:
                if len(table) == 1:
                    other = table[0]
                    if other == actor or not (oi or ri) or oi > 1 or ri > 1:
                        break  # (the one actor in the table must be named, and not the author)
                    obj = (oc, other if oi else actor)
                    ra = other if ri else actor
                else:
                    # two others, each named once: the text's maker and the ref's author
                    if oi + ri != 3:  # (the grammar: each at most 2, so 1 and 2)
                        break
                    t1, t2 = table
                    if t1 == actor or t2 == actor or not t1 < t2:
                        break
                    obj = (oc, table[oi - 1])
                    ra = table[ri - 1]
            elif oi or ri:
                break
            else:
                obj = (oc, actor)
                ra = actor
            st = objs.get(obj)
            if st is None:
                break
            if a == _INS:
                size = len(x)
                if st.type is not _TEXT or start_op + size - 1 > INT64_MAX:
                    break
                sq = st.data
                # (a peer typing on the heads: its last insert's run, which it continues)
                typing = at_heads and rc == start_op - 1 and ra == actor
                found: Any = sq.typing_run(rc, ra) if typing else None
                if found is None:
                    typing = False
                    found = sq.find(rc, ra)
                    if found is None:
                        break
                refs = None if at_heads else [obj, (rc, ra)]
            else:
                size = x
                end = rc + x
                if st.type is _MAP:
                    break
                sq = st.data
                refs = None if at_heads else [obj]
                found = None  # the run holding rc, for remote_delete
                e = rc
                while e < end:
                    run = sq.find(e, ra)
                    if run is None:
                        break
                    if found is None:
                        found = run
                    e = run.ctr + run.n
                    if refs is not None:
                        refs.append(((e if e < end else end) - 1, ra))  # (as the general path)
                if e < end:
                    break
        else:  # SET of a scalar at a map key
            a, o, key, x, pr = op  # (a is SET: the grammar has tested the op's first bytes)
            if not (type(key) is str and type(pr) is list):
                break
            tx = type(x)
            if not (
                x is None
                or tx is str
                or tx is float
                or tx is bool
                or tx is bytes
                or (tx is int and INT64_MIN <= x <= INT64_MAX)
            ):
                break  # (a Counter, an ext type, is left to the general path)
            # the actors the op's ids name by index: the author, then the table's (at most
            # two: one made the object, one wrote the value a pred names); each one named
            if not table:
                names = [actor]
            elif len(table) == 1:
                t1 = table[0]
                if t1 == actor:
                    break
                names = [actor, t1]
            else:
                t1, t2 = table
                if not t1 < t2 or t1 == actor or t2 == actor:
                    break
                names = [actor, t1, t2]
            nn = len(names)
            used = 1  # a bit per index named (the author's needs no naming)
            if o is None:
                obj = None  # the root
            elif type(o) is list and len(o) == 2:
                oc, oi = o
                if type(oc) is not int or type(oi) is not int or not 0 <= oi < nn:
                    break
                obj = (oc, names[oi])
                used |= 1 << oi
            else:
                break
            preds = []
            for p in pr:
                if type(p) is not list or len(p) != 2:
                    break
                pc, pi = p
                # (its counter needs no upper bound: it must name an op this document has,
                # and those are below start_op on the heads or in the deps' past.  After a
                # snapshot cut, an op of the cut is known by its counter alone, at most the
                # author's greatest there: so the lower bound, which decoding tests)
                if type(pc) is not int or type(pi) is not int or not 0 <= pi < nn or pc < 1:
                    break
                preds.append((pc, names[pi]))
                used |= 1 << pi
            if len(preds) != len(pr) or used != (1 << nn) - 1:
                break
            st = objs.get(obj)
            if st is None or st.type is not _MAP:
                break
            if lazy and preds:
                live = [(e[0], e[1]) for e in st.data.get(key, ())]
                if any([p not in live for p in preds]):
                    record_run()
                    if any([p not in live and h.change_of(*p) is None for p in preds]):
                        break
            size = 1
            if not at_heads:
                refs = [] if obj is None else [obj]
            elif not preds:
                refs = None
            else:
                # on the heads, a pred must only be an op this document has: one naming
                # the value the key holds is, and needs no lookup in the history
                cur = st.data.get(key)
                w = cur[-1] if cur and len(preds) == 1 else None
                refs = None if w is not None and (w[0], w[1]) == preds[0] else []
        if not several:
            if not text and pack_lists(top) != raw:  # canonical, as decode_change demands
                break
            hasher = new_hasher()
            hasher.update(raw)
            hsh = hasher.digest()
            c = Change(actor, seq, start_op, time, message, dep_hashes, None, raw, hsh, size)
        if refs is not None:
            record_run()
            doc._clock_for_next = None
            # (most often shown without a clock, as causality would first; a text op names
            # no pred.  After a snapshot cut, an op of the cut is shown if its author has a
            # change below the deps' covered prefix, else causality leaves it out, as it
            # is in every accepted change's past)
            if preds or not shown_past(actor, dep_idx, refs):
                try:
                    causality(c, dep_idx, known, refs, preds)  # (may set doc._clock_for_next)
                except InvalidChangeError:
                    break
        if several:
            if observed:
                _apply_text_ops_observed(apply_op, ops, names, start_op, actor)
            elif sq is not None:  # (else typed whole: applied already)
                _apply_text_ops(sq, ops, names, start_op, actor)
        elif observed and text:
            if a == _INS:
                # (the run the lookups above found, as the unobserved path takes it, not
                # OpSet.apply's second lookup of the reference: the same patch)
                if typing:
                    sq.extend_typing(found, x)
                else:
                    found = sq.integrate_insert((rc, ra), start_op, actor, x, found)
                opset_patch_insert(obj, st, found, start_op, x)
            # (a backspace or forward delete as the unobserved path does it, O(1) with the
            # cursor, not remote_delete's split and merge: the same patch)
            elif x != 1 or not _delete_one_observed(doc._opset, sq, obj, found, rc):
                apply_op((a, obj, (rc, ra), x), start_op, actor)
        elif a == _INS:
            if typing:
                if linear:  # (the next changes may continue it: see ``typed``)
                    typed = [x]
                    t_sq = sq
                    t_run = found
                    t_table = table
                    t_obj = op[1]
                else:
                    sq.extend_typing(found, x)
            else:
                sq.integrate_insert((rc, ra), start_op, actor, x, found)
        elif a == _REM:
            # (a backspace moves the element into the tombstones after it, if it can, and
            # a forward delete into those before it)
            if x != 1 or not (
                sq.remote_backspace(found)
                if rc == found.ctr + found.n - 1
                else rc == found.ctr and sq.remote_forward(found)
            ):
                sq.remote_delete(rc, ra, x, False, found)
        else:
            apply_op((_SET, obj, key, x, tuple(preds)), start_op, actor)
        if linear and refs is None:  # on the only head: the run grows
            if actor != last:  # (a run is one author's: the waiting one is last's)
                record_run()
            if run_first < 0:
                run_first = hi
                run_from = len(applied)
            hi += 1  # (its number: the last change, one past the head)
            hh = hsh
            hnxt = start_op + size
        else:
            i = add(c, dep_idx, at_heads)
            fresh = False
            if refs is not None and doc._clock_for_next is not None:
                h.remember(i, doc._clock_for_next)  # (later clock walks stop here)
            if len(heads) == 1:
                hi = i
                hh = hsh
                hnxt = start_op + size
            else:
                hh = b""
        if start_op + size - 1 > max_op:
            max_op = start_op + size - 1
        last = actor
        last_seq = seq
        app(c)
    else:
        k = n
    if typed is not None:
        t_sq.extend_typing(t_run, "".join(typed))
        if hnxt - 1 > max_op:
            max_op = hnxt - 1
    record_run()
    doc._max_op = max_op
    return k


def _text_ops(
    objs: Any,
    apply_op: Any,
    top: Any,
    raw: bytes,
    pos: int,
    deps: tuple[bytes, ...],
    refs: list[Any] | None,
    observed: bool = False,
) -> tuple[Change, Any, list[bytes]] | None:
    """Check a change ``top`` (``raw`` unpacked) of several INS and REM ops on one text,
    made on ``deps``, whose header the caller has checked (deps known, seq, start_op);
    returns it with the text's :class:`~crdt.sequence.Sequence` and the actors its ids
    name by index, for :func:`_apply_text_ops` to apply once the caller's causality check
    has passed; or None (nothing changed) for the general path to decide.  ``refs``:
    None if made on all the heads; else a list, which gets every id the ops name outside
    the change (the object, each ref, the last id of each run a REM covers), as the
    causality check takes them.  ``observed``: the document has observers, so a text
    typed whole is the general path's (it tells a patch per op; a fill tells none).

    The checks are those of ``decode_change`` and ``Doc._apply_verified`` for this shape
    (every type and encoding by the grammar, the ops from ``pos``: group 2 of its second
    pattern).  An id of the author's at or past ``start_op`` is the change's own: it must
    be an element an earlier INS of the change makes (as the general path, applying op by
    op, finds it), which :func:`_made_here` tells from the counters; every other id must
    be in the document, older than the change.  So every id is checked before any op is
    applied.  O(ops) lookups.

    On all the heads, on a text with no elements yet, every id must be the change's own
    instead: :func:`crdt.fill.gather` checks them all and lays them out (from the ops as
    unpacked: no op tuples), and :func:`crdt.fill.fill` writes the text at once; so too
    when the change makes the text first (:func:`_made_whole`).  Those are applied here
    (the second item None).  ``apply_op``: ``OpSet.apply``.
    """
    _, actor, seq, start_op, time, message, _, table, ops = top
    if not table:
        names = [actor]
    elif len(table) == 1:
        if table[0] == actor:
            return None
        names = [actor, table[0]]
    else:
        t1, t2 = table
        if t1 == actor or t2 == actor or not t1 < t2:
            return None
        names = [actor, t1, t2]
    nn = len(names)
    if not _canonical_text_ops(raw, pos):
        return None
    first = ops[0]
    if len(first) == 5:
        if refs is not None or observed:
            return None  # (a document made and typed on a peer that saw less: rare)
        c = _made_whole(objs, apply_op, top, raw, deps, names)
        return None if c is None else (c, None, names)
    o = first[1]
    oc, oi = o
    if oi >= nn:
        return None
    obj = (oc, names[oi])
    st = objs.get(obj)
    if st is None or st.type is not _TEXT:
        return None
    sq = st.data
    used = 1 | 1 << oi  # a bit per actor index named (the author's needs no naming)
    if can_fill(sq):
        # a text typed whole, sent in one change: its first op an INS at the head, its
        # elements all the change's own (any other change on an empty text fails gather)
        if refs is not None or observed:
            return None
        plan = _whole_plan(top, 0, nn, used)
        if plan is None:
            return None
        fill(sq, plan, actor)
        return _whole_change(top, raw, deps, plan), None, names
    if refs is not None:
        refs.append(obj)
    find = sq.find
    ctr = start_op
    made: list[int] = []  # the ids earlier INS ops of the change make: [lo, hi) after [lo, hi)
    for a, ob, e, x in ops:  # (the grammar has tested every type and encoding)
        if ob != o or e is None:
            return None  # (another object, or an INS at the head: the general path's)
        rc, ri = e
        if ri >= nn:
            return None
        ra = names[ri]
        used |= 1 << ri
        if a == _INS:
            if ri == 0 and rc >= start_op:  # (the table holds others only: index 0 is the author)
                if not _made_here(made, rc, rc + 1):
                    return None
            elif find(rc, ra) is None:
                return None
            elif refs is not None:
                refs.append((rc, ra))
            made.append(ctr)
            ctr += len(x)
            made.append(ctr)
        else:
            end = rc + x
            if ri == 0 and end > start_op:
                if not _made_here(made, rc, end):
                    return None  # (old and own ids in one REM too: the general path's)
            else:
                while rc < end:
                    run = find(rc, ra)
                    if run is None:
                        return None
                    rc = run.ctr + run.n
                    if refs is not None:
                        refs.append(((rc if rc < end else end) - 1, ra))
            ctr += x
    if ctr - 1 > INT64_MAX or used != (1 << nn) - 1:
        return None
    hasher = new_hasher()
    hasher.update(raw)
    c = Change(
        actor, seq, start_op, time, message, deps, None, raw, hasher.digest(), ctr - start_op
    )
    return c, sq, names


def _made_here(made: list[int], lo: int, hi: int) -> bool:
    """Whether ids ``lo`` .. ``hi - 1`` all lie in the ranges ``made`` (ascending and
    disjoint: ``[lo, hi)`` after ``[lo, hi)``, one per INS).  O(ranges)."""
    for k in range(0, len(made), 2):
        a, b = made[k], made[k + 1]
        if a <= lo < b:
            if hi <= b:
                return True
            lo = b  # (the rest must start where this one ends)
    return False


def _apply_text_ops(
    sq: Any, ops: tuple[Any, ...], names: list[bytes], ctr: int, actor: bytes
) -> None:
    """Apply checked INS and REM ops (:func:`_text_ops`) to text ``sq`` in their order,
    from counter ``ctr``, as ``OpSet.apply`` applies them."""
    for a, _, (rc, ri), x in ops:
        if a == _INS:
            sq.integrate_insert((rc, names[ri]), ctr, actor, x)
            ctr += len(x)
        else:
            sq.remote_delete(rc, names[ri], x)
            ctr += x


def _apply_text_ops_observed(
    apply_op: Any, ops: tuple[Any, ...], names: list[bytes], ctr: int, actor: bytes
) -> None:
    """:func:`_apply_text_ops` for an observed document: each op through ``apply_op``
    (``OpSet.apply``, which tells its patches), as the general path applies it."""
    for a, (oc, oi), (rc, ri), x in ops:
        apply_op((a, (oc, names[oi]), (rc, names[ri]), x), ctr, actor)
        ctr += len(x) if a == _INS else x


def _delete_one_observed(opset: OpSet, sq: Any, obj: Any, run: Any, ctr: int) -> bool:
    """Delete element ``ctr`` of ``run`` (of ``sq``, the sequence of ``obj``) on an observed
    document if that is a backspace or a forward delete (:meth:`Sequence.remote_backspace`,
    :meth:`Sequence.remote_forward`), and tell the patch ``OpSet.apply`` would; returns
    False, changing nothing, otherwise.  O(C) for the position, with the cursor in the
    run's chunk (a peer typing), as ``OpSet.apply``'s."""
    if run.deleted or run.n < 2 or run.reg:
        return False  # (the sequence would refuse them: a position for nothing)
    back = ctr == run.ctr + run.n - 1
    if not back and ctr != run.ctr:
        return False
    idx = sq.index_of(run, ctr - run.ctr)  # (where it shows now, as a delete's patch says)
    if not (sq.remote_backspace(run) if back else sq.remote_forward(run)):
        return False
    if not sq.is_text:
        opset.paths.clear()  # (as OpSet.apply: objects in a list move, or leave)
    path = path_of(opset, obj)
    patches = opset.patches
    if path is not None and patches is not None:
        patches.append(Patch("delete", path, idx, length=1))
    return True


def _made_whole(
    objs: Any,
    apply_op: Any,
    top: list[Any],
    raw: bytes,
    deps: tuple[bytes, ...],
    names: list[bytes],
) -> Change | None:
    """Check and apply a change, made on the only head, that makes a text at a map key
    (overwriting nothing) and then types it whole: a document's text made and written in
    one session.  Maps it makes first may hold the text, or each other (a new object with
    a text field).  Each MAKE is checked as ``Doc._apply_verified`` checks one (a map of
    the document is older than the change, a map of the change's own made by an earlier
    op), the ops after them as a text typed whole (every id the change's own).  Returns
    it, or None (nothing changed).  O(k log k) for its k ops."""
    actor, start_op, ops = top[1], top[3], top[8]
    nn = len(names)
    # (the grammar has tested the MAKEs' bytes: maps, then a text, each at a str key, on
    # the root or on an id [uint, 0 or 1], with no pred; and that an INS follows, which
    # gather tests)
    used = 1  # a bit per actor index named (the author's needs no naming)
    made: list[tuple[Any, str, ObjType]] = []  # each MAKE's object, key and kind
    for _, o, key, kind, _ in ops:
        if o is None:
            obj = None
            is_map = True  # the root
        else:
            oc, oi = o
            if oi >= nn:
                return None
            obj = (oc, names[oi])
            used |= 1 << oi
            if oi == 0 and oc >= start_op:  # the change's own: an op before must make it
                is_map = oc - start_op < len(made)  # (each op before the text makes a map)
            else:
                st = objs.get(obj)
                is_map = st is not None and st.type is _MAP
        if not is_map:
            return None
        made.append((obj, key, ObjType(kind)))
        if kind == _TEXT:
            break
    m = len(made)  # the text's op: the first after the MAKEs
    if ops[m][1] != (start_op + m - 1, 0):
        return None  # (not the text it makes: the general path's)
    plan = _whole_plan(top, m, nn, used)
    if plan is None:
        return None
    ctr = start_op
    for obj, key, kind in made:
        apply_op((_MAKE, obj, key, kind, ()), ctr, actor)
        ctr += 1
    fill(objs[(ctr - 1, actor)].data, plan, actor)
    return _whole_change(top, raw, deps, plan)


def _whole_plan(top: list[Any], i: int, nn: int, used: int) -> Plan | None:
    """The checks of a text typed whole in change ``top``, its inserts and removes
    ``ops[i:]`` (typed and canonical: :func:`_canonical_text_ops`): :func:`crdt.fill.gather`'s,
    the counters' bound, and every actor of the table named (``used``: a bit per index
    named, of ``nn``).  Returns the laid-out ops, or None."""
    plan = gather(top[8], i, len(top[8]), top[3] + i, True)
    if plan is None or plan.end - 1 > INT64_MAX or used != (1 << nn) - 1:
        return None
    return plan


def _whole_change(top: list[Any], raw: bytes, deps: tuple[bytes, ...], plan: Plan) -> Change:
    """The :class:`Change` of a text typed whole, applied, made on ``deps``."""
    _, actor, seq, start_op, time, message, _, _, _ = top
    hasher = new_hasher()
    hasher.update(raw)
    n_ops = plan.end - start_op
    return Change(actor, seq, start_op, time, message, deps, None, raw, hasher.digest(), n_ops)
