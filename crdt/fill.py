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
first.  :func:`fill_fresh` collects the ops as such nodes, with the removes as the
stretches of the inserts they hit, checks every op as :meth:`Doc._apply_verified` does,
and only then walks the tree and hands the runs to :meth:`Sequence.load_runs`.  Nothing
changes when an op is invalid.  O(k log k) for k ops, against O(k (log r + C)) one by one.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from .errors import InvalidChangeError
from .op import INS, REM
from .sequence import Sequence

FILL_MIN = 4
"""Fewest ops (inserts and removes on the sequence, in a row) worth a fill: a change that
starts a text with a keystroke or two goes op by op."""


def can_fill(seq: Sequence) -> bool:
    """True if ``seq`` has no elements, tombstones included, and shares nothing with a
    copy (a fill writes its head chunk's run list in place).  O(1)."""
    head = seq.head
    return not head.runs and head.next is None and head.refs[0] == 1 and not seq._alias


def fill_fresh(
    seq: Sequence, ops: list[Any], i: int, ctr: int, actor: bytes, obj: Any
) -> tuple[int, int]:
    """Apply ``ops[i:j]``, the inserts and removes on ``obj`` (whose sequence is ``seq``,
    empty: :func:`can_fill`) that follow each other from ``ops[i]``, an insert at the head
    with counter ``ctr``, made by ``actor``.

    Returns ``(j - i, ctr after ops[j - 1])``, or ``(0, ctr)`` having changed nothing when
    fewer than :data:`FILL_MIN` ops qualify.  Raises :class:`InvalidChangeError` (with the
    general path's message) for the first invalid op, having changed nothing.
    O(k log k) for k ops.
    """
    ctr0 = ctr
    is_text = seq.is_text
    want = str if is_text else list
    starts: list[int] = []  # first counter of each insert, ascending
    ends: list[int] = []  # one past its last
    texts: list[Any] = []  # its content
    kids: list[list[tuple[int, int]] | None] = []  # its (offset, -child) attachments
    roots: list[int] = []  # inserts at the head, in op order
    gone: list[list[tuple[int, int]] | None] = []  # its removed [lo, hi) offsets
    bisect = bisect_right
    j = len(ops)
    for k in range(i, j):
        op = ops[k]
        a = op[0]
        if (a != INS and a != REM) or (op[1] is not obj and op[1] != obj):
            j = k
            break
        if a == INS:
            x = op[3]
            if type(x) is not want:
                raise InvalidChangeError(
                    f"op {ctr}: wrong content for a {'text' if is_text else 'list'}"
                )
            ref = op[2]
            r = len(starts)
            if ref is None:
                roots.append(r)
            else:
                rc, ra = ref
                p = bisect(starts, rc) - 1
                if ra != actor or p < 0 or rc >= ends[p]:  # (rc >= ctr is past every end)
                    raise InvalidChangeError(f"op {ctr}: unknown element {rc}@{ra.hex()}")
                att = kids[p]
                if att is None:
                    kids[p] = [(rc - starts[p], -r)]
                else:
                    att.append((rc - starts[p], -r))
            starts.append(ctr)
            ctr += len(x)
            ends.append(ctr)
            texts.append(x)
            kids.append(None)
            gone.append(None)
        else:
            ec, ea = op[2]
            end = ec + op[3]
            if end > ctr:
                raise InvalidChangeError(f"op {ctr}: removes elements not before it")
            # every counter in [ec, end) must be an element: inserts leave gaps (the
            # counters other ops took), and a remove may not span one
            p = bisect(starts, ec) - 1
            if ea != actor or p < 0 or ec >= ends[p]:
                raise InvalidChangeError(f"op {ctr}: unknown element {ec}@{ea.hex()}")
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
                    raise InvalidChangeError(f"op {ctr}: unknown element {e}@{ea.hex()}")
                lo = e
            ctr += op[3]
    if j - i < FILL_MIN:
        return 0, ctr0
    seq.load_runs(_walk(starts, texts, kids, gone, roots, actor, is_text))
    return j - i, ctr


def _walk(
    starts: list[int],
    texts: list[Any],
    kids: list[list[tuple[int, int]] | None],
    gone: list[list[tuple[int, int]] | None],
    roots: list[int],
    actor: bytes,
    is_text: bool,
) -> list[tuple[int, bytes, Any, bool, bool]]:
    """The inserts' elements in document order, as :meth:`Sequence.load_runs` takes them:
    each insert's content up to each element something hangs off, then what hangs there,
    the latest first, every such piece cut where its removed stretches begin and end.
    Iterative: typing nests each insert in the one before."""
    out: list[tuple[int, bytes, Any, bool, bool]] = []
    push = out.append
    stack: list[Any] = roots[:]  # popped from the end: the latest root first
    while stack:
        item = stack.pop()
        if type(item) is int:
            x = texts[item]
            att = kids[item]
            g = gone[item]
            if att is None and g is None:  # most inserts: nothing hangs off, all live
                push((starts[item], actor, x if is_text else x[:], False, False))
                continue
            if att is None:
                assert g is not None
                _cut(out, starts[item], x, 0, len(x), _bounds(g), actor)
                continue
            att.sort()  # by offset, then the latest child first (children are negated)
            todo: list[Any] = []
            prev = 0
            b = None if g is None else _bounds(g)
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
            x = texts[k]
            if b is None:
                push((starts[k] + lo, actor, x[lo:hi], False, False))
            else:
                _cut(out, starts[k], x, lo, hi, b, actor)
    return out


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
