"""Filling a sequence that has no elements yet from one change's ops, in one pass.

A change that makes a text and writes into it (a document typed in one session, then
sent whole to a peer) carries thousands of inserts and removes on one sequence.  Applied
one by one, each insert looks its reference up by id, finds the reference's place in its
chunk and places a new run there, and each remove splits runs and merges tombstones: that
is most of the cost of applying such a change.

When the sequence has no elements when the first of those ops arrives, every element any
of them names is one of the change's own, and each new element is newer than every
element already there (the change's counters ascend).  The RGA rule then puts every
insert *right after its reference*, ahead of the earlier inserts after the same element.
So the final order is a tree walk: an insert is a node hanging off the element it names
(or the head), a node's children come after the element they hang off, the latest child
first.  :func:`gather` reads the ops as the change's bytes unpacked them (no op tuples
are made: a fill's whole change needs none), whose types and encodings are already
checked (by ``decode_change``, or by the fast path's grammar), checks each one as
``Doc._apply_verified`` would and collects it as such a node, with the removes as the
stretches of the inserts they hit; only then :func:`fill` walks the tree and hands the
runs to :meth:`Sequence.load_runs`.  At any op that is not valid, gather gives up having
changed nothing, and the caller applies the ops one by one, which raises the error the
op deserves.  O(k log k) for k ops, against O(k (log r + C)) one by one.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, NamedTuple

from .op import INS, REM, Op, decode_scalar
from .sequence import Sequence

FILL_MIN = 4
"""Fewest ops (inserts and removes on the sequence, in a row) worth a fill: a change that
starts a text with a keystroke or two goes op by op."""


class Plan(NamedTuple):
    """A fill's ops, checked and laid out as the insert tree, not applied yet."""

    took: int  # how many ops, from the first (an insert at the head)
    end: int  # the counter after the last of them
    starts: list[int]  # first counter of each insert, ascending
    texts: list[Any]  # its content
    kids: list[list[tuple[int, int]] | None]  # its (offset, -child) attachments
    gone: list[list[tuple[int, int]] | None]  # its removed [lo, hi) offsets
    roots: list[int]  # the inserts at the head, in op order


def can_fill(seq: Sequence) -> bool:
    """True if ``seq`` has no elements, tombstones included, and shares nothing with a
    copy (a fill writes its head chunk's run list in place).  O(1)."""
    head = seq.head
    return not head.runs and head.next is None and head.refs[0] == 1 and not seq._alias


def stretch(ops: list[Op], i: int) -> int:
    """One past the last of the inserts and removes in a row from ``ops[i]`` on its object
    (op tuples, decoded).  O(k) for the k ops."""
    obj = ops[i][1]
    j = i + 1
    n = len(ops)
    while j < n:
        op = ops[j]
        if (op[0] != INS and op[0] != REM) or op[1] != obj:  # (decoding shares obj: fast)
            break
        j += 1
    return j


def gather(ops: list[Any], i: int, j: int, ctr: int, is_text: bool) -> Plan | None:
    """Check the inserts and removes ``ops[i:j]``, on one object, and lay them out; None,
    having looked only, if they are fewer than :data:`FILL_MIN` or one of them is not
    valid (on another object, content of the other kind, or naming an element it may
    not).

    ``ops`` are a change's ops in wire form (``[action, [ctr, actor index], ref or elem,
    content or count]``), ``ops[i:j]`` inserts and removes with every field typed and
    canonical (``decode_change`` checked them, or the fast path's grammar,
    :func:`crdt.fastpath._canonical_text_ops`: the type tests took a fifth of a text's
    fill); ``ops[i]`` is an insert at the head, with counter ``ctr``, on the object of an
    empty sequence (:func:`can_fill`) of the kind ``is_text`` says.  Every element the ops
    may name is one of their own, so an id must name the author (index 0).  O(k log k) for
    k ops.
    """
    if j - i < FILL_MIN:
        return None
    want = str if is_text else list
    obj = ops[i][1]
    starts: list[int] = []  # first counter of each insert, ascending
    ends: list[int] = []  # one past its last
    texts: list[Any] = []  # its content
    kids: list[list[tuple[int, int]] | None] = [None] * (j - i)  # (one per op: enough)
    gone: list[list[tuple[int, int]] | None] = [None] * (j - i)
    roots: list[int] = []
    bisect = bisect_right
    for r in ops[i:j] if i or j != len(ops) else ops:
        a, o, e, x = r
        if o != obj:
            return None
        if a == INS:
            if type(x) is not want:
                return None
            if not is_text:
                x = [decode_scalar(v) for v in x]
            r = len(starts)
            if e is None:
                roots.append(r)
            else:
                rc, ri = e
                if ri:
                    return None
                p = bisect(starts, rc) - 1
                if p < 0 or rc >= ends[p]:  # (rc >= ctr is past every end)
                    return None
                att = kids[p]
                if att is None:
                    kids[p] = [(rc - starts[p], -r)]
                else:
                    att.append((rc - starts[p], -r))
            starts.append(ctr)
            ctr += len(x)
            ends.append(ctr)
            texts.append(x)
        else:  # a REM
            ec, ei = e
            if ei:
                return None
            end = ec + x
            if end > ctr:  # (removes elements not before it)
                return None
            # every counter in [ec, end) must be an element: inserts leave gaps (the
            # counters other ops took), and a remove may not span one (nor start in
            # one: the gap after insert p fails the test of the insert after it)
            p = bisect(starts, ec) - 1
            if p < 0:
                return None
            lo = ec
            while True:
                s = starts[p]
                e = ends[p]
                g = gone[p]
                if g is None:
                    gone[p] = [(lo - s, (e if e < end else end) - s)]
                else:
                    g.append((lo - s, (e if e < end else end) - s))
                if e >= end:
                    break
                p += 1
                if p == len(starts) or starts[p] != e:
                    return None
                lo = e
            ctr += x
    return Plan(j - i, ctr, starts, texts, kids, gone, roots)


def fill(seq: Sequence, plan: Plan, actor: bytes) -> None:
    """Lay ``plan``'s elements, inserted by ``actor``, into ``seq`` (empty:
    :func:`can_fill`).  O(r) for the r runs it makes; a text's runs are made on first
    touch (:meth:`Sequence.load_runs_lazily`), as a loaded text's are."""
    runs = _walk(plan, actor)
    if seq.is_text:
        text = "".join([r[2] for r in runs if not r[4]])
        seq.load_runs_lazily(len(text), text, lambda: runs)
    else:
        seq.load_runs(runs)


def _walk(plan: Plan, actor: bytes) -> list[tuple[int, bytes, Any, bool, bool]]:
    """The inserts' elements in document order, as :meth:`Sequence.load_runs` takes them:
    each insert's content up to each element something hangs off, then what hangs there,
    the latest first, every such piece cut where its removed stretches begin and end.
    Iterative: typing nests each insert in the one before."""
    starts, texts, kids, gone = plan.starts, plan.texts, plan.kids, plan.gone
    out: list[tuple[int, bytes, Any, bool, bool]] = []
    push = out.append
    cut = _cut
    stack: list[Any] = plan.roots[:]  # popped from the end: the latest root first
    pop = stack.pop
    while stack:
        item = pop()
        if type(item) is int:
            x = texts[item]
            att = kids[item]
            g = gone[item]
            if att is None:
                if g is None:  # most inserts: nothing hangs off, all live
                    push((starts[item], actor, x, False, False))
                elif g[0] == (0, len(x)):  # typed, then removed whole
                    push((starts[item], actor, x, False, True))
                else:
                    cut(out, starts[item], x, 0, len(x), _bounds(g), actor)
                continue
            if len(att) > 1:
                att.sort()  # by offset, then the latest child first (children are negated)
            b = None if g is None else _bounds(g)
            if b is not None and len(b) == 2 and b[0] == 0 and b[1] == len(x):
                b = _ALL  # typed, then removed whole (with what hangs off it typed later)
            # the piece before the first child goes out now; the rest waits on the stack,
            # in reverse: each child's subtree, and the piece after the children at an offset
            todo: list[Any] = []
            off, neg = att[0]
            s = starts[item]
            if b is None:
                push((s, actor, x[: off + 1], False, False))
            elif b is _ALL:
                push((s, actor, x[: off + 1], False, True))
            else:
                cut(out, s, x, 0, off + 1, b, actor)
            prev = off + 1
            for off, neg in att:
                if off >= prev:
                    todo.append((item, prev, off + 1, b))
                    prev = off + 1
                todo.append(-neg)
            if prev < len(x):
                todo.append((item, prev, len(x), b))
            todo.reverse()
            stack += todo
        else:
            k, lo, hi, b = item
            if b is None:
                push((starts[k] + lo, actor, texts[k][lo:hi], False, False))
            elif b is _ALL:
                push((starts[k] + lo, actor, texts[k][lo:hi], False, True))
            else:
                cut(out, starts[k], texts[k], lo, hi, b, actor)
    return out


_ALL: list[int] = [0]
"""The bounds of an insert removed whole (an object of its own: ``_walk`` tests ``is``)."""


def _bounds(g: list[tuple[int, int]]) -> list[int]:
    """Removed ``[lo, hi)`` offsets as the sorted bounds of disjoint stretches, ``[lo0,
    hi0, lo1, hi1, ...]``, strictly ascending: removes may overlap or repeat."""
    if len(g) == 1:
        return [g[0][0], g[0][1]]
    g.sort()
    out: list[int] = []
    for lo, hi in g:
        if out and lo <= out[-1]:
            if hi > out[-1]:
                out[-1] = hi
        else:
            out.append(lo)
            out.append(hi)
    return out


def _cut(
    out: list[tuple[int, bytes, Any, bool, bool]],
    c: int,
    x: Any,
    lo: int,
    hi: int,
    b: list[int],
    actor: bytes,
) -> None:
    """Append ``x[lo:hi]`` (counters from ``c + lo``) to ``out`` as runs, cut at the bounds
    ``b`` (:func:`_bounds`): an odd number of bounds at or before an offset means it was
    removed."""
    q = bisect_right(b, lo)
    nb = len(b)
    pos = lo
    while pos < hi:
        if q & 1:  # removed up to b[q]
            stop = b[q] if b[q] < hi else hi
            out.append((c + pos, actor, x[pos:stop], False, True))
        else:
            stop = b[q] if q < nb and b[q] < hi else hi
            out.append((c + pos, actor, x[pos:stop], False, False))
        if stop == hi:
            break
        q += 1
        pos = stop
