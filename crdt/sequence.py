"""The RGA sequence behind lists and text, run-length encoded.

Space: elements are kept in document order (tombstones included) as :class:`Run` objects,
grouped into a doubly linked list of :class:`Chunk` s of at most ``MAX_RUNS`` runs, each
chunk caching its visible length.  Time: every element has an op id ``(ctr, actor)``; an
insert names the element it goes after (or the head), and concurrent inserts after the same
element are ordered by descending op id, which is the single rule

    starting right after the reference, skip every element whose id is greater than the
    new element's id, and insert before the first one that is smaller.

Descendants of an element always have greater counters than it, so the rule skips whole
subtrees; within a run the ids ascend, so comparing a run's first id decides the whole run.

Indexes:
- by position: the chunk list with cached visible lengths, plus a cursor (the last chunk
  used and its start position), so local edits near the previous one cost O(1) chunk
  steps and a far jump O(chunks) = O(runs / MAX_RUNS), walking from the cursor, the first
  chunk or the last, whichever is nearest.  A remote edit keeps the cursor when it
  changes the visible length of the cursor's chunk only (a chunk's start moves only with
  the chunks before it; a chunk split moves none), and drops it otherwise; the position of
  a run (:meth:`Sequence.index_of`, which an observer's patch asks after each remote op)
  sets it, so a peer typing in one place costs O(C) per patch there too;
- by id: per actor, the sorted start counters of its runs (``SortedInts``) and a dict from
  start to run; a run knows its chunk, so a remote op never scans the document.

Forks are copy-on-write: :meth:`Sequence.copy` gives the copy chunks of its own (links,
visible length) that share the original's run lists and runs, and the id index; a counter
shared by the chunks holding one run list (``Chunk.refs``) says how many do.  Whichever
sequence first changes a shared chunk takes its own copy of the runs (:meth:`Sequence._own`,
O(C)), so every edit goes through ``_own`` before it touches a chunk's runs.  A shared run's
``chunk`` back-pointer names the chunk of the sequence that made it; ``_alias`` maps such
chunks to this sequence's own (:meth:`Sequence._chunk_of`).

Complexities (r = runs, C = MAX_RUNS): local insert/delete at a position near the cursor
O(C); far away O(r / C + C); remote insert/delete by id O(log r + C + skipped runs);
copy O(r / C), plus O(C) for each chunk either copy later changes.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .gcpause import gc_paused
from .run import Register, Run
from .sortedints import SortedInts

RunSpec = tuple[int, bytes, Any, bool, bool]
"""A run as :meth:`Sequence.load_runs` takes it: ``(ctr, actor, content, is_register,
deleted)``."""

MAX_RUNS = 64
"""A chunk splits in two when it holds more runs than this."""


def _where(runs: list[Run], run: Run) -> int:
    """The index of ``run`` in ``runs`` (which holds it).  O(1) when its hint is right,
    else O(C): ``list.index`` compares every run before it, ~80 instructions each for
    objects without ``__eq__``, and a remote op asks once or twice."""
    i = run.ri
    if i < len(runs) and runs[i] is run:
        return i
    i = run.ri = runs.index(run)
    return i


class Chunk:
    """A slice of the sequence: up to ``MAX_RUNS`` runs and their visible length."""

    __slots__ = ("next", "prev", "refs", "runs", "vis")

    def __init__(self, runs: list[Run]) -> None:
        self.runs = runs  # runs in document order (a list forks may share)
        self.vis = 0  # number of visible elements in ``runs``
        self.prev: Chunk | None = None  # previous chunk in document order
        self.next: Chunk | None = None  # next chunk in document order
        # how many chunks (one per sequence) hold this ``runs`` list: one counter, shared by
        # those chunks; above 1 the runs must not change (see Sequence._own)
        self.refs = [1]


class _ActorRuns:
    """Id index of one actor's runs: sorted start counters and start -> run."""

    __slots__ = ("by_start", "starts")

    def __init__(self) -> None:
        self.starts = SortedInts()  # start counters of this actor's runs
        self.by_start: dict[int, Run] = {}  # start counter -> run

    def copy(self) -> _ActorRuns:
        new = _ActorRuns()
        new.starts = self.starts.copy()
        new.by_start = dict(self.by_start)
        return new

    def remove(self, run: Run) -> None:
        self.starts.remove(run.ctr)
        del self.by_start[run.ctr]


class Sequence:
    """An RGA list or text; ``is_text`` selects ``str`` or ``list`` run contents."""

    __slots__ = (
        "_alias",
        "_cur",
        "_cur_pos",
        "_hint",
        "_ic",
        "_index",
        "_indexed",
        "_irefs",
        "_lazy",
        "_rc",
        "_tail",
        "head",
        "is_text",
        "vis",
    )

    def __init__(self, is_text: bool) -> None:
        self.is_text = is_text  # contents are str (text) or list (list)
        self.head = Chunk([])  # first chunk; there is always at least one
        self._tail = self.head  # last chunk (a far jump near the end walks back from it)
        # chunk a shared run's back-pointer names -> this sequence's chunk holding the run
        self._alias: dict[Chunk, Chunk] = {}
        self.vis = 0  # visible length of the whole sequence
        self._index: dict[bytes, _ActorRuns] = {}  # actor -> its runs by counter
        self._irefs = [1]  # how many sequences share ``_index`` (one list among them)
        self._indexed = False  # _index is built (lazily, on the first lookup by id)
        self._cur: Chunk | None = None  # cursor chunk (None: start from head)
        self._cur_pos = 0  # visible position where the cursor chunk starts
        self._hint: Run | None = None  # last run an id lookup found
        self._rc: tuple[Run, Chunk, int, int] | None = None
        # last run located by position: (run, chunk, index in chunk, position of its
        # first element); valid until any edit other than extending that run in place
        self._ic: Run | None = None  # last run a remote insert went into (same validity)
        # (visible text, runs builder) of a text loaded lazily; ``head`` is unset until then
        self._lazy: tuple[str, Callable[[], Iterable[RunSpec]]] | None = None

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return self.vis

    def runs(self) -> Iterator[Run]:
        """Every run in document order, tombstones included.  O(r)."""
        c: Chunk | None = self.head
        while c is not None:
            yield from c.runs
            c = c.next

    def text(self) -> str:
        """The visible text.  O(r); O(1) for a text loaded lazily and not yet touched."""
        lazy = self._lazy
        if lazy is not None:
            return lazy[0]
        return "".join([r.content for r in self.runs() if not r.deleted])

    def values(self) -> list[Any]:
        """The visible values (register elements show their winning value).  O(n)."""
        out: list[Any] = []
        for r in self.runs():
            if r.deleted:
                continue
            if r.reg:
                out.append(r.content[0].winner())
            else:
                out.extend(r.content)
        return out

    def _locate(self, i: int) -> tuple[Chunk, int, int]:
        """Find visible element ``i``: ``(chunk, run index, offset in run)``; moves the cursor."""
        rc = self._rc
        if rc is not None:
            run, rchunk, ri, rs = rc
            if rs <= i < rs + run.n:
                return rchunk, ri, i - rs
        cur = self._cur
        s = self._cur_pos
        if cur is None:
            c = self.head
            s = 0
        else:
            c = cur
        # Walk from the cursor, the head or the tail, whichever is nearest in elements: a
        # random far jump then walks a sixth of the chunks on average, not a third.  (A
        # lookup in the cursor's own chunk, most of them, makes two comparisons here.)
        if i < s:
            if i < s - i:
                c = self.head
                s = 0
        elif i >= s + c.vis and i - s > self.vis - i:
            c = self._tail
            s = self.vis - c.vis
        while i < s:
            c = c.prev  # type: ignore[assignment]
            s -= c.vis
        while i >= s + c.vis:
            s += c.vis
            c = c.next  # type: ignore[assignment]
        self._cur = c
        self._cur_pos = s
        k = i - s
        runs = c.runs
        if k + k < c.vis:
            ri = 0
            for r in runs:
                if not r.deleted:
                    n = r.n
                    if k < n:
                        self._rc = (r, c, ri, i - k)
                        return c, ri, k
                    k -= n
                ri += 1
        else:
            # in the chunk's second half: count back from its end (half the runs, on average)
            k = c.vis - k  # visible elements from element i to the chunk's end
            ri = len(runs)
            for r in reversed(runs):
                ri -= 1
                if not r.deleted:
                    n = r.n
                    if k <= n:
                        k = n - k
                        self._rc = (r, c, ri, i - k)
                        return c, ri, k
                    k -= n
        raise AssertionError("chunk visible length out of date")  # pragma: no cover

    def element_at(self, i: int) -> tuple[Run, int]:
        """The run holding visible element ``i`` and the offset in it.  O(C) near the cursor."""
        if not 0 <= i < self.vis:
            raise UsageError(f"index {i} out of range for length {self.vis}")
        c, ri, off = self._locate(i)
        return c.runs[ri], off

    def id_at(self, i: int) -> tuple[int, bytes]:
        """The op id of visible element ``i``."""
        run, off = self.element_at(i)
        return run.ctr + off, run.actor

    def value_at(self, i: int) -> Any:
        run, off = self.element_at(i)
        return run.content[0].winner() if run.reg else run.content[off]

    def find(self, ctr: int, actor: bytes) -> Run | None:
        """The run holding element ``(ctr, actor)``, tombstone or not.  O(log r).

        The first call builds the id index (O(r log r)); local-only editing never pays
        for it, and from then on every edit keeps it up to date.
        """
        h = self._hint
        if h is not None and h.actor == actor and h.ctr <= ctr < h.ctr + h.n:
            return h
        if not self._indexed:
            self._build_index()
        ar = self._index.get(actor)
        if ar is None:
            return None
        # SortedInts.floor, inlined: this runs once per remote op
        st = ar.starts
        maxes = st.maxes
        k = bisect_right(maxes, ctr)
        if k < len(maxes):
            lst = st.lists[k]
            i = bisect_right(lst, ctr)
            if i:
                s = lst[i - 1]
            elif k:
                s = maxes[k - 1]
            else:
                return None
        elif k:
            s = maxes[k - 1]
        else:
            return None
        run = ar.by_start[s]
        if ctr < run.ctr + run.n:
            self._hint = run
            return run
        return None

    def has_element(self, ctr: int, actor: bytes) -> bool:
        return self.find(ctr, actor) is not None

    def index_of(self, run: Run, off: int = 0) -> int:
        """Visible position of element ``off`` of ``run`` (elements before it; a tombstone
        run's position is that of the element after it).  O(C) in the cursor's chunk,
        else O(min(chunks before, chunks after) + C): the walk goes out from the run's
        chunk both ways at once, and the first end it reaches gives the chunk's position,
        so an edit near either end of the document (typing at the end, most often) costs
        O(C) too; O(1) for the run last found by position, or by this (a peer's keystrokes,
        each a patch, go on in one run).  Moves the cursor to the run's chunk."""
        rc = self._rc
        if rc is not None and rc[0] is run:  # (never a tombstone run: see _check)
            return rc[3] + off
        target = self._chunk_of(run)
        if target is self._cur:
            pos = self._cur_pos
        else:
            b = target.prev
            f = target.next
            before = after = 0
            while True:
                if b is None:
                    pos = before
                    break
                if f is None:
                    pos = self.vis - after - target.vis
                    break
                before += b.vis
                b = b.prev
                after += f.vis
                f = f.next
            # (the position cache goes too: a local edit it finds changes its chunk, which
            # must then be the cursor's, as _locate leaves them)
            self._cur = target
            self._cur_pos = pos
            self._rc = None
        runs = target.runs
        i = _where(runs, run)
        if i + i <= len(runs):
            for r in runs[:i]:
                if not r.deleted:
                    pos += r.n
        else:
            # in the chunk's second half: count back from its end
            pos += target.vis
            for r in runs[i:]:
                if not r.deleted:
                    pos -= r.n
        if run.deleted:
            return pos
        self._rc = (run, target, i, pos)  # (target is the cursor's chunk now, as _rc needs)
        return pos + off

    # ------------------------------------------------------------ structure

    def _build_index(self) -> None:
        """Index every run by actor and start counter, in bulk.  O(r log r), in C mostly
        (a fork's copy pays this on its first remote op)."""
        groups: dict[bytes, list[Run]] = {}
        for r in self.runs():
            g = groups.get(r.actor)
            if g is None:
                groups[r.actor] = [r]
            else:
                g.append(r)
        index: dict[bytes, _ActorRuns] = {}
        for actor, g in groups.items():
            ar = index[actor] = _ActorRuns()
            ar.by_start = {r.ctr: r for r in g}
            ar.starts = SortedInts(ar.by_start)
        self._index = index
        self._irefs = [1]
        self._indexed = True

    def _index_add(self, run: Run) -> None:
        if not self._indexed:
            return
        index = self._index if self._irefs[0] == 1 else self._own_index()
        ar = index.get(run.actor)
        if ar is None:
            ar = index[run.actor] = _ActorRuns()
        ar.starts.add(run.ctr)
        ar.by_start[run.ctr] = run

    def _own_index(self) -> dict[bytes, _ActorRuns]:
        """The id index, copied first if another sequence shares it.  O(r) on a copy."""
        refs = self._irefs
        if refs[0] > 1:
            refs[0] -= 1
            self._index = {a: ar.copy() for a, ar in self._index.items()}
            self._irefs = [1]
        return self._index

    def _own(self, chunk: Chunk) -> Chunk:
        """Make ``chunk``'s runs this sequence's own, copying them first if another
        sequence's chunk holds the same run list; returns ``chunk``.  Every edit calls this
        before it changes a chunk's runs; the copies keep their order, so run indexes stay
        valid, but run objects taken from the chunk before must be taken again.  O(C) on a
        copy."""
        refs = chunk.refs
        if refs[0] == 1:
            runs = chunk.runs
            if runs and runs[0].chunk is not chunk:
                # the list's other holders are gone: its runs still name the chunk that
                # made them (every run of a list names the same one); adopt them
                for r in runs:
                    r.chunk = chunk
            return chunk
        refs[0] -= 1
        chunk.refs = [1]
        if self.is_text:  # str contents are immutable: share them (the common case, fast)
            chunk.runs = [Run(r.ctr, r.actor, r.content, r.deleted, chunk) for r in chunk.runs]
        else:
            copies: list[Run] = []
            for r in chunk.runs:
                if r.reg:
                    reg = Register(list(r.content[0].entries))
                    nr = Run(r.ctr, r.actor, [reg], r.deleted, chunk)
                    nr.reg = True
                else:
                    nr = Run(r.ctr, r.actor, r.content.copy(), r.deleted, chunk)
                copies.append(nr)
            chunk.runs = copies
        if self._indexed:
            index = self._own_index()
            for r in chunk.runs:
                index[r.actor].by_start[r.ctr] = r
        self._hint = self._rc = self._ic = None
        return chunk

    def _chunk_of(self, run: Run) -> Chunk:
        """This sequence's chunk holding ``run`` (a shared run names its maker's chunk)."""
        c = run.chunk
        assert c is not None
        alias = self._alias
        return alias.get(c, c) if alias else c

    def _split(self, chunk: Chunk, ri: int, off: int) -> Run:
        """Split ``chunk.runs[ri]`` at ``off``; the right part goes to ``ri + 1``."""
        self._rc = self._ic = None
        right = chunk.runs[ri].split(off)
        chunk.runs.insert(ri + 1, right)
        right.ri = ri + 1
        self._index_add(right)
        return right

    def _backspace(self, chunk: Chunk, ri: int) -> bool:
        """Delete the last element of the live run ``chunk.runs[ri]`` when the run after it
        is the tombstone run that continues it (a backspace after a backspace): the element
        moves into that run (:meth:`Run.give_last`) instead of being split off and merged
        into it.  Returns False, changing nothing, when the runs are not so.  The caller
        owns ``chunk`` and resets the position caches."""
        runs = chunk.runs
        run = runs[ri]
        if ri + 1 >= len(runs) or run.n < 2 or run.reg or run.deleted:
            return False
        nx = runs[ri + 1]
        ctr = run.ctr + run.n - 1
        if not (nx.deleted and nx.ctr == ctr + 1 and nx.actor == run.actor and not nx.reg):
            return False
        old = nx.ctr
        run.give_last(nx)
        if self._indexed:
            index = self._index if self._irefs[0] == 1 else self._own_index()
            ar = index[run.actor]
            ar.starts.replace(old, ctr)
            del ar.by_start[old]
            ar.by_start[ctr] = nx
        chunk.vis -= 1
        self.vis -= 1
        return True

    def _forward_delete(self, chunk: Chunk, ri: int) -> bool:
        """Delete the first element of the live run ``chunk.runs[ri]`` when the run before
        it is the tombstone run it continues (the delete key held down): the element moves
        into that run (:meth:`Run.take_first`) instead of being split off and merged into
        it.  Returns False, changing nothing, when the runs are not so.  The caller owns
        ``chunk``, knows the run is live, and resets the position caches."""
        runs = chunk.runs
        run = runs[ri]
        if not ri or run.n < 2:  # (a register's run, always of one, fails the second)
            return False
        pv = runs[ri - 1]
        old = run.ctr
        if not (pv.deleted and pv.ctr + pv.n == old and pv.actor == run.actor and not pv.reg):
            return False
        pv.take_first(run)
        if self._indexed:
            index = self._index if self._irefs[0] == 1 else self._own_index()
            ar = index[run.actor]
            ar.starts.replace(old, old + 1)
            del ar.by_start[old]
            ar.by_start[old + 1] = run
        chunk.vis -= 1
        self.vis -= 1
        return True

    def _place(self, chunk: Chunk, ri: int, run: Run) -> Run:
        """Put a new run at ``chunk.runs[ri]``, merging into its left neighbour if it can.

        Returns the run that now holds the new elements.
        """
        self._rc = self._ic = None
        runs = chunk.runs
        if ri > 0:
            left = runs[ri - 1]
            if left.can_append(run):
                left.append(run)
                if not run.deleted:
                    chunk.vis += run.n
                    self.vis += run.n
                return left
        run.chunk = chunk
        runs.insert(ri, run)
        run.ri = ri
        self._index_add(run)
        if not run.deleted:
            chunk.vis += run.n
            self.vis += run.n
        if len(runs) > MAX_RUNS:
            self._split_chunk(chunk)
        return run

    def _fit(self, chunk: Chunk) -> None:
        """Split ``chunk`` until it holds at most ``MAX_RUNS`` runs (splits may overfill)."""
        while len(chunk.runs) > MAX_RUNS:
            self._split_chunk(chunk)

    def _split_chunk(self, chunk: Chunk) -> None:
        self._rc = self._ic = None
        runs = chunk.runs
        half = len(runs) >> 1
        moved = runs[half:]
        del runs[half:]
        new = Chunk(moved)
        vis = 0
        for r in moved:
            r.chunk = new
            if not r.deleted:
                vis += r.n
        new.vis = vis
        chunk.vis -= vis
        new.prev = chunk
        new.next = chunk.next
        if chunk.next is not None:
            chunk.next.prev = new
        else:
            self._tail = new
        chunk.next = new

    def _merge_left(self, chunk: Chunk, ri: int) -> None:
        """Merge ``chunk.runs[ri]`` into its left neighbour if it continues it."""
        self._rc = self._ic = None
        if ri <= 0:
            return
        runs = chunk.runs
        left = runs[ri - 1]
        right = runs[ri]
        if left.can_append(right):
            left.append(right)
            del runs[ri]
            if self._indexed:
                self._own_index()[right.actor].remove(right)
            if self._hint is right:
                self._hint = None

    # ------------------------------------------------------------ local edits

    def local_insert(
        self, pos: int, ctr: int, actor: bytes, content: Any
    ) -> tuple[int, bytes] | None:
        """Insert ``content`` (str or list, non-empty) at visible ``pos`` with first id
        ``(ctr, actor)``, which must be greater than every id in the sequence.

        Returns the reference id (the visible element before ``pos``) or ``None`` for the
        head.  O(C) near the cursor; typing after one's own run extends it in place.
        """
        if not 0 <= pos <= self.vis:
            raise UsageError(f"insert position {pos} out of range for length {self.vis}")
        if type(content) is list:
            content = content.copy()  # runs grow in place; never share the caller's list
        if pos == 0:
            # A new id is the greatest, so it goes before everything, tombstones too.
            chunk = self._own(self.head)
            self._rc = self._ic = None
            self._cur = chunk
            self._cur_pos = 0
            self._place(chunk, 0, Run(ctr, actor, content, False, chunk))
            return None
        chunk, ri, off = self._locate(pos - 1)
        runs = chunk.runs
        if chunk.refs[0] != 1 or runs[0].chunk is not chunk:  # (_own's test, inlined)
            self._own(chunk)
        run = chunk.runs[ri]
        ref = (run.ctr + off, run.actor)
        if off == run.n - 1:
            if run.actor == actor and run.ctr + run.n == ctr and not run.reg:
                run.extend(content)
                n = len(content)
                chunk.vis += n
                self.vis += n
                return ref
        else:
            self._split(chunk, ri, off + 1)
        new = Run(ctr, actor, content, False, chunk)
        if self._place(chunk, ri + 1, new) is new and new.chunk is chunk:
            # typing goes on after the run just made: the next lookup is in it
            self._rc = (new, chunk, ri + 1, pos)
        return ref

    def local_delete(
        self, pos: int, n: int
    ) -> list[tuple[int, bytes, int] | tuple[int, bytes, Register]]:
        """Delete ``n`` visible elements from ``pos``.

        Returns what was deleted, in document order: ``(ctr, actor, count)`` for runs of
        consecutive ids (merged when they continue each other), and ``(ctr, actor,
        register)`` for register elements, whose ops a delete must name one by one.
        """
        if n <= 0:
            return []
        if pos < 0 or pos + n > self.vis:
            raise UsageError(f"cannot delete {n} at {pos} from length {self.vis}")
        out: list[Any] = []
        chunk, ri, off = self._locate(pos)  # (before the caches go: it may hit ``_rc``)
        rc = self._rc
        self._rc = self._ic = None
        if chunk.refs[0] != 1 or chunk.runs[0].chunk is not chunk:  # (_own's test, inlined)
            chunk = self._own(chunk)
        if n == 1 and off and off == chunk.runs[ri].n - 1 and self._backspace(chunk, ri):
            run = chunk.runs[ri]
            if rc is not None and rc[0] is run:  # (not if _own copied the runs)
                # the run lost only its last element, so the next edit (typing on after
                # the backspace, or another one) still finds it where it was
                self._rc = rc
            return [(run.ctr + run.n, run.actor, 1)]  # (the element just past the run now)
        if n == 1 and not off and self._forward_delete(chunk, ri):
            run = chunk.runs[ri]
            # the next element slid to ``pos``: a forward delete after this one finds it
            self._rc = (run, chunk, ri, pos)
            return [(run.ctr - 1, run.actor, 1)]  # (the element just before the run now)
        touched = [chunk]
        # the run that ends at pos - 1 once the first run is split: the next edit (typing
        # in place of what went, a backspace) looks there; indexes below the deletion point
        # do not move, and that run, live, never absorbs a tombstone
        lri = ri if off else ri - 1
        remaining = n
        while remaining:
            runs = chunk.runs
            if ri >= len(runs):
                chunk = self._own(chunk.next)  # type: ignore[arg-type]
                touched.append(chunk)
                ri = 0
                continue
            run = runs[ri]
            if not run.deleted:
                if off:
                    self._split(chunk, ri, off)
                    ri += 1
                    off = 0
                    continue
                if remaining < run.n:
                    self._split(chunk, ri, remaining)
                take = run.n
                if run.reg:
                    out.append((run.ctr, run.actor, Register(run.content[0].entries)))
                    run.content = [Register([])]
                else:
                    last = out[-1] if out else None
                    if (
                        last is not None
                        and type(last[2]) is int
                        and last[1] == run.actor
                        and last[0] + last[2] == run.ctr
                    ):
                        out[-1] = (last[0], last[1], last[2] + take)
                    else:
                        out.append((run.ctr, run.actor, take))
                run.deleted = True
                chunk.vis -= take
                self.vis -= take
                remaining -= take
            # a tombstone now, passed or just made: it may continue the one before it
            # (_merge_left is called only where the counters continue: a frame and a
            # can_append saved on 3 in 4 runs a delete passes, in rustcode: 6,716 calls
            # where there were 29,031)
            if ri and (left := runs[ri - 1]).ctr + left.n == run.ctr:
                before = len(runs)
                self._merge_left(chunk, ri)
                if len(runs) != before:
                    continue
            ri += 1
        # the run after the last deleted one may now continue it
        runs = chunk.runs
        if ri < len(runs) and (left := runs[ri - 1]).ctr + left.n == runs[ri].ctr:
            self._merge_left(chunk, ri)
        if lri >= 0:  # (_fit drops the cache if it splits the chunk: _split_chunk)
            first = touched[0]
            left = first.runs[lri]
            if not left.deleted:
                self._rc = (left, first, lri, pos - left.n)
        for c in touched:
            self._fit(c)
        return out

    # ------------------------------------------------------------ remote ops

    def typing_run(self, ctr: int, actor: bytes) -> Run | None:
        """The run a peer's typing continues: the live run the last remote insert went
        into, if it ends with element ``(ctr, actor)``; else None.  Read only.  O(1).

        The fast path asks it for an insert made on the heads whose reference is the
        author's own op just before it; it then finds nothing else (:meth:`find`) and
        calls :meth:`extend_typing`."""
        ic = self._ic
        if ic is None or ic.actor != actor or ic.ctr + ic.n - 1 != ctr or ic.deleted or ic.reg:
            return None
        return ic

    def extend_typing(self, run: Run, content: Any) -> None:
        """Insert ``content`` after the last element of ``run`` (the run the last remote
        insert went into), with the ids that continue it, by extending the run: the one
        place a remote insert grows a run.  The caller has shown that the RGA rule puts
        the new elements there.  :meth:`integrate_insert` looks at the run after it for
        that; the fast path knows the insert was made on the heads, where every element is
        older than the new ones, and asks :meth:`typing_run` instead (no lookup of the
        reference, no search for the run's place in its chunk).  O(len(content))."""
        chunk = run.chunk
        if chunk is not self._cur:
            self._cur = None  # (its start may move: see the module docstring)
            self._rc = None
        else:
            rc = self._rc
            if rc is not None and rc[0] is not run:
                # (the run found by position may come after this one, and move; this
                # one's start does not: the position of an observed keystroke's patch,
                # right after this, is then O(1) in index_of)
                self._rc = None
        run.extend(content)  # (a list must be the caller's own copy: runs grow in place)
        n = len(content)
        chunk.vis += n  # type: ignore[union-attr]
        self.vis += n

    def integrate_insert(
        self,
        ref: tuple[int, bytes] | None,
        ctr: int,
        actor: bytes,
        content: Any,
        ref_run: Run | None = None,
    ) -> Run:
        """Insert elements ``(ctr..ctr+len-1, actor)`` after ``ref`` by the RGA rule.

        ``ref`` must exist (verified by the caller, who may pass the run holding it as
        ``ref_run``).  Returns the run now holding the first new element.
        O(log r + C + skipped runs).
        """
        if type(content) is list:
            content = content.copy()  # runs grow in place; never share the op's list
        ic = self._ic
        self._rc = None
        chunk: Chunk
        if ic is not None and ref is not None:
            # remote typing: ref is the last element of the run the previous remote insert
            # went into, the new ids continue it, and the next element is smaller
            rctr, ractor = ref
            if ractor == actor and ic.actor == actor and rctr == ctr - 1 == ic.ctr + ic.n - 1:
                ichunk = ic.chunk
                assert ichunk is not None and ichunk.refs[0] == 1  # copies reset _ic
                chunk = ichunk
                runs = chunk.runs
                last = runs[-1]
                if last is ic:
                    nc = chunk.next
                    nx = nc.runs[0] if nc is not None else None
                else:
                    # list.index compares every run before it (~80 instructions each, for
                    # objects without __eq__): remember where it was
                    nx = runs[_where(runs, ic) + 1]
                if (
                    not ic.deleted
                    and not ic.reg
                    and (nx is None or nx.ctr < ctr or (nx.ctr == ctr and nx.actor < actor))
                ):
                    self.extend_typing(ic, content)
                    return ic
        self._ic = None
        if ref is None:
            chunk = self.head
            ri = 0
        else:
            rctr, ractor = ref
            run = ref_run if ref_run is not None else self.find(rctr, ractor)
            if run is None:
                raise AssertionError(f"unknown reference {ref}")
            chunk = run.chunk  # type: ignore[assignment]
            if self._alias:
                chunk = self._chunk_of(run)
            ri = _where(chunk.runs, run)
            off = rctr - run.ctr
            if off < run.n - 1:
                nxt = rctr + 1  # the element after ref inside the same run
                if nxt < ctr or (nxt == ctr and ractor < actor):
                    chunk = self._own(chunk)
                    if chunk is not self._cur:
                        self._cur = None  # (its start may move: see the module docstring)
                    self._split(chunk, ri, off + 1)
                    new = self._place(chunk, ri + 1, Run(ctr, actor, content, False, chunk))
                    self._ic = new
                    return new
            ri += 1
        while True:
            runs = chunk.runs
            nr = len(runs)
            while ri < nr:
                r = runs[ri]
                rc = r.ctr
                if rc > ctr or (rc == ctr and r.actor > actor):
                    ri += 1
                else:
                    break
            else:
                nxt_chunk = chunk.next
                if nxt_chunk is not None:
                    chunk = nxt_chunk
                    ri = 0
                    continue
            break
        prev = chunk.prev
        if ri == 0 and prev is not None:
            chunk = prev
            ri = len(chunk.runs)
        if chunk.refs[0] != 1 or (chunk.runs and chunk.runs[0].chunk is not chunk):
            chunk = self._own(chunk)
        if chunk is not self._cur:
            self._cur = None  # (its start may move: see the module docstring)
        new = self._place(chunk, ri, Run(ctr, actor, content, False, chunk))
        self._ic = new
        return new

    def _isolate(
        self, ctr: int, actor: bytes, n: int, run: Run | None = None
    ) -> tuple[Run, Chunk, int]:
        """Split so that elements ``(ctr..ctr+n'-1)`` form one run (n' <= n); returns it,
        its chunk and its index there.  ``run``: the run holding ``ctr``, if the caller
        found it."""
        if run is None:
            run = self.find(ctr, actor)
            if run is None:
                raise AssertionError(f"unknown element {ctr}@{actor.hex()}")
        chunk: Chunk = run.chunk  # type: ignore[assignment]
        if self._alias:
            chunk = self._chunk_of(run)
        ri = _where(chunk.runs, run)
        if chunk.refs[0] > 1 or run.chunk is not chunk:
            self._own(chunk)
            run = chunk.runs[ri]
        off = ctr - run.ctr
        if off:
            run = self._split(chunk, ri, off)
            ri += 1
            self._hint = run
        if n < run.n:
            self._split(chunk, ri, n)
        if len(chunk.runs) > MAX_RUNS:
            self._fit(chunk)
            chunk = self._chunk_of(run)  # (the split may have moved it)
            ri = _where(chunk.runs, run)
        return run, chunk, ri

    def remote_backspace(self, run: Run) -> bool:
        """Delete the last element of ``run`` (found by its id) if that is a backspace: the
        run is live and the run after it holds the tombstones that continue it, so the
        element moves into them (:meth:`_backspace`).  Returns False, changing nothing,
        otherwise, and the caller deletes as usual.  The fast path tries it for a peer's
        one-element deletes; a big change's deletes of one element are seldom backspaces
        (its consecutive ones are one op), so :meth:`remote_delete` does not.  O(1) with
        the run's position hint right, else O(C)."""
        chunk = run.chunk
        if self._alias or chunk is None or chunk.refs[0] != 1:
            return False  # (a chunk shared with a copy: the general path copies it first)
        if chunk is not self._cur:
            self._cur = None  # (its start may move: see the module docstring)
        self._rc = self._ic = None
        return self._backspace(chunk, _where(chunk.runs, run))

    def remote_forward(self, run: Run) -> bool:
        """Delete the first element of ``run`` (found by its id) if that is a forward
        delete: the run is live and the run before it holds the tombstones it continues,
        so the element moves into them (:meth:`_forward_delete`).  Returns False, changing
        nothing, otherwise, and the caller deletes as usual.  The fast path tries it for a
        peer's one-element deletes, as :meth:`remote_backspace`.  O(1) with the run's
        position hint right, else O(C)."""
        chunk = run.chunk
        if self._alias or chunk is None or chunk.refs[0] != 1 or run.deleted:
            return False  # (a chunk shared with a copy: the general path copies it first)
        if not self._forward_delete(chunk, _where(chunk.runs, run)):
            return False
        if chunk is not self._cur:
            self._cur = None  # (its start may move: see the module docstring)
        self._rc = self._ic = None
        return True

    def remote_delete(
        self, ctr: int, actor: bytes, n: int, indexes: bool = False, first: Run | None = None
    ) -> list[tuple[int, int]]:
        """Delete elements ``(ctr..ctr+n-1, actor)`` (each removing its insert op).

        Already deleted elements stay deleted.  A register element loses the entry of its
        insert op and stays visible if a later set survives.  Returns the runs that became
        invisible with their lengths (for patches).  ``first``: the run holding ``ctr``,
        if the caller found it.  O(log r + C) per run touched.
        """
        self._rc = self._ic = None
        out: list[tuple[int, int]] = []
        end = ctr + n
        found = first
        while ctr < end:
            if found is None:
                found = self.find(ctr, actor)
            if found is None:
                raise AssertionError(f"unknown element {ctr}@{actor.hex()}")
            if found.deleted:  # already gone: do not split it
                ctr = found.ctr + found.n
                found = None
                continue
            run, chunk, ri = self._isolate(ctr, actor, end - ctr, found)
            found = None
            ctr += run.n
            if run.reg:
                reg = run.content[0]
                ins_ctr = run.ctr
                reg.entries = [e for e in reg.entries if not (e[0] == ins_ctr and e[1] == actor)]
                if reg.entries:
                    continue
            run.deleted = True
            if chunk is not self._cur:
                self._cur = None  # (its start may move: see the module docstring)
            chunk.vis -= run.n
            self.vis -= run.n
            if indexes:
                out.append((self.index_of(run), run.n))
            # a tombstone run may continue into its neighbours (most do not: test first)
            runs = chunk.runs
            if ri + 1 < len(runs):
                nx = runs[ri + 1]
                if nx.deleted and nx.actor == actor and nx.ctr == run.ctr + run.n:
                    self._merge_left(chunk, ri + 1)
            if ri:
                lf = runs[ri - 1]
                if lf.deleted and lf.actor == actor and lf.ctr + lf.n == run.ctr:
                    self._merge_left(chunk, ri)
        return out

    # ------------------------------------------------------------ registers (lists)

    def register_at(self, ctr: int, actor: bytes) -> Run:
        """Turn element ``(ctr, actor)`` into a lone register run and return it."""
        run = self._isolate(ctr, actor, 1)[0]
        if not run.reg:
            run.reg = True
            value = run.content[0]
            run.content = [Register([] if run.deleted else [(ctr, actor, value)])]
        return run

    def set_register(self, run: Run, entries: list[tuple[int, bytes, Any]]) -> None:
        """Replace a register run's live entries and update visibility."""
        chunk = run.chunk
        assert chunk is not None and run.reg
        run.content[0].entries = entries
        visible = bool(entries)
        if visible == run.deleted:
            delta = 1 if visible else -1
            chunk.vis += delta
            self.vis += delta
            run.deleted = not visible
            if chunk is not self._cur:
                self._cur = None  # (its start may move: see the module docstring)
        self._rc = self._ic = None

    # ------------------------------------------------------------ snapshot support

    def load_runs(self, runs: Iterable[RunSpec]) -> None:
        """Fill an empty sequence with ``(ctr, actor, content, is_register, deleted)`` runs
        in document order (loading a snapshot or checkpoint, or a change's ops laid out by
        :mod:`crdt.fill`).  O(r log r)."""
        assert self.vis == 0 and not self.head.runs
        # Chunks are filled half full, in one pass: a run goes at the end of the last
        # chunk, so none of _place's work (an insert, a split, the index) is needed, but
        # runs still merge only through Run.can_append / Run.append.
        c = self.head
        out = c.runs
        half = MAX_RUNS // 2
        vis = total = 0  # visible elements in the chunk being filled, in those before it
        left: Run | None = None
        for ctr, actor, content, is_reg, deleted in runs:
            run = Run(ctr, actor, content, deleted, c)
            if is_reg:
                run.reg = True
            elif left is not None and left.ctr + left.n == ctr and left.can_append(run):
                # (the counters first: most runs do not continue the one before)
                left.append(run)
                if not deleted:
                    vis += run.n
                continue
            if len(out) >= half:
                c.vis = vis
                total += vis
                vis = 0
                new = Chunk([])
                new.prev = c
                c.next = new
                c = new
                out = c.runs
                run.chunk = c
            run.ri = len(out)
            out.append(run)
            if not deleted:
                vis += run.n
            left = run
        c.vis = vis
        self._tail = c
        self.vis = total + vis
        self._cur = None
        self._rc = self._ic = None
        if self._indexed:
            self._build_index()

    def load_runs_lazily(
        self,
        vis: int,
        text: str,
        build: Callable[[], Iterable[RunSpec]],
    ) -> None:
        """Make an empty text whose runs ``build()`` gives (as :meth:`load_runs` takes
        them), built on the first touch that needs them.  O(1).

        Until then the text is ``text`` (``vis`` long), and :meth:`text` and ``len`` read it
        without building the runs: a document loaded to be read pays no ``Run`` per run
        (most of a snapshot's load time, stop 25).  ``build`` must not fail; it may run more
        than once (for each copy)."""
        assert self.vis == 0 and not self.head.runs and self.is_text and len(text) == vis
        del self.head
        del self._tail  # (read only after ``head``, which builds the runs and sets it)
        self.vis = vis
        self._lazy = (text, build)
        self.__class__ = _LazyText

    def _materialise(self) -> None:
        lazy = self._lazy
        assert lazy is not None
        self._lazy = None
        self.__class__ = Sequence
        self.head = Chunk([])
        self.vis = 0
        with gc_paused():  # (as the load it stands for: a Run per run, all kept)
            self.load_runs(lazy[1]())
        assert self.vis == len(lazy[0])

    def copy(self) -> Sequence:
        """An independent copy whose chunks share their runs with this sequence's until one
        side changes them.  O(r/C); O(1) for a text loaded lazily and not yet touched (the
        copy is lazy too, and builds runs of its own).

        The caches that may point at a run are reset on both sides, since a shared run may
        only be changed after :meth:`_own`.
        """
        new = Sequence(self.is_text)
        if self._lazy is not None:
            new.load_runs_lazily(self.vis, *self._lazy)
            return new
        alias: dict[Chunk, Chunk] = {}
        prev: Chunk | None = None
        c: Chunk | None = self.head
        while c is not None:
            nc = Chunk(c.runs)
            nc.vis = c.vis
            nc.refs = c.refs
            c.refs[0] += 1
            runs = c.runs
            if runs:
                # every run of a list names the same chunk: the one that made the list
                alias[c] = nc
                maker = runs[0].chunk
                if maker is not c:
                    assert maker is not None
                    alias[maker] = nc
            if prev is None:
                new.head = nc
            else:
                prev.next = nc
                nc.prev = prev
            prev = nc
            c = c.next
        assert prev is not None  # (there is always a head)
        new._tail = prev
        new._alias = alias
        new.vis = self.vis
        if self._indexed:
            self._irefs[0] += 1
            new._irefs = self._irefs
            new._index = self._index
            new._indexed = True
        self._hint = self._rc = self._ic = None
        return new

    def __del__(self) -> None:
        # give up this sequence's hold on the run lists it shares, so that the other
        # holders change them in place instead of copying them first
        try:
            # (a lazy text holds no chunks; reading ``head`` would build them)
            c: Chunk | None = None if self._lazy is not None else self.head
            while c is not None:
                c.refs[0] -= 1
                c = c.next
            self._irefs[0] -= 1
        except AttributeError:  # pragma: no cover - __init__ did not finish
            pass

    # ------------------------------------------------------------ invariants

    def _check(self) -> None:
        """Assert every structural invariant (called by the stress tests).  A lazy text
        stays lazy: only its length is checked."""
        if self._lazy is not None:
            assert self.vis == len(self._lazy[0]) and self.is_text, "lazy text length"
            return
        total = 0
        prev: Chunk | None = None
        c: Chunk | None = self.head
        seen: set[tuple[bytes, int]] = set()
        while c is not None:
            assert c.prev is prev, "broken chunk links"
            assert c.refs[0] >= 1, "run list held by no chunk"
            assert len(c.runs) <= MAX_RUNS, "oversized chunk"
            assert c.runs or c is self.head, "empty chunk after head"
            vis = 0
            for i, r in enumerate(c.runs):
                assert self._chunk_of(r) is c, "run back-pointer"
                assert r.n == len(r.content) and r.n > 0, "run length"
                assert isinstance(r.content, str) == self.is_text, "content type"
                if r.reg:
                    assert r.n == 1 and isinstance(r.content[0], Register)
                    assert r.deleted == (not r.content[0].entries)

                if i:
                    assert not c.runs[i - 1].can_append(r), "unmerged runs"
                if not r.deleted:
                    vis += r.n
                key = (r.actor, r.ctr)
                assert key not in seen
                seen.add(key)
                if self._indexed:
                    assert self._index[r.actor].by_start[r.ctr] is r, "id index"
            assert vis == c.vis, "chunk visible length"
            total += vis
            prev = c
            c = c.next
        assert prev is self._tail, "tail is not the last chunk"
        assert total == self.vis, "sequence visible length"
        if self._ic is not None:
            assert self._ic.chunk is not None and self._ic.chunk.refs[0] == 1
        if self._cur is not None:
            # the cursor: a chunk of this sequence, starting where it says
            pos = 0
            c = self.head
            while c is not self._cur:
                assert c is not None, "cursor: chunk not in the sequence"
                pos += c.vis
                c = c.next
            assert pos == self._cur_pos, "cursor: start"
        if self._rc is not None:
            # the last run found by position: where it says, visible, starting where it says
            run, rchunk, ri, rs = self._rc
            assert rchunk.runs[ri] is run and not run.deleted, "position cache: run"
            # (a local edit it finds changes its chunk, and moves no cursor: it must be the
            # cursor's chunk, or the cursor's start would go stale)
            assert rchunk is self._cur, "position cache: not the cursor's chunk"
            pos = 0
            c = self.head
            while c is not rchunk:
                assert c is not None, "position cache: chunk not in the sequence"
                pos += c.vis
                c = c.next
            pos += sum(r.n for r in rchunk.runs[:ri] if not r.deleted)
            assert pos == rs, "position cache: start"
        if not self._indexed:
            return
        n_index = sum(len(a.by_start) for a in self._index.values())
        assert n_index == len(seen) == sum(len(a.starts) for a in self._index.values())
        for a in self._index.values():
            ends = [(s, a.by_start[s].n) for s in a.starts]
            for (s0, n0), (s1, _) in itertools.pairwise(ends):
                assert s0 + n0 <= s1, "overlapping runs"


class _LazyText(Sequence):
    """A text loaded lazily (:meth:`Sequence.load_runs_lazily`) whose runs are not built
    yet: its ``head`` is unset, and the first read of it builds them and makes the object
    a plain :class:`Sequence` again.

    The hook lives on this subclass, not on :class:`Sequence`, because a class with
    ``__getattr__`` gets CPython 3.11's slower attribute lookup: no attribute read or method
    call on it is specialised (``LOAD_ATTR_SLOT``, ``LOAD_METHOD_NO_DICT``): with the
    hook on every sequence (``f731bef``) clownschool_flat's B1 took 9% more instructions in
    one transaction and 5% more with a transaction per patch (cachegrind, stop 27).
    """

    __slots__ = ()

    if not TYPE_CHECKING:  # (hidden from mypy, which would let any attribute pass)

        def __getattr__(self, name: str) -> Any:
            # Python calls this only for an unset slot, which is ``head`` until the runs
            # are built
            if name != "head" or self._lazy is None:
                raise AttributeError(name)
            self._materialise()
            return self.head
