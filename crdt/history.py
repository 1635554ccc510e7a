"""The change graph: which changes a document has, how they depend on each other.

Changes are numbered in the order they were applied (always a causal order), and every
per-change fact is kept in a parallel list indexed by that number, which is far smaller
than one object per change.  ``heads`` are the changes nothing depends on.

Causality queries ("is op X in the causal past of these deps") compare vector clocks: an
actor's changes form a chain (each has the previous one in its causal past), so X is in the
past iff the clock of the deps has at least X's seq for X's actor.  A change made on the
current heads needs no clock (its past is everything).  Nor, most often, does one made on
other changes: each change keeps how many of the first changes are all in its past
(``covered``: the numbering is a causal order, and a change made on a merge of everything
before it moves the prefix up to itself), and X in a change below that prefix of one of
the deps is in the past.  Two peers typing at once refer to their own ops and to each
other's merged ones, which are there (in the concurrent traces every such change is shown
so).  For the rest the clock is computed by walking back from the deps to the nearest
change whose clock is cached, or below a prefix, and then cached itself.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from collections.abc import Sequence as SeqABC
from typing import TYPE_CHECKING

from .change import Change
from .hashindex import HASH_LEN, HashIndex
from .ids import OpId

if TYPE_CHECKING:
    from .snapshot import Base


NO_DEP = -1
MANY_DEPS = -2
BLOCK = 256  # _RawStore: changes per compressed block (a power of 2)
CLOCK_EVERY = 64  # cache the clock of every 64th change made on the heads (a power of 2)
# check a change without a clock only if everything but its last 64 predecessors is known to
# be in its past (History.shown_past): the clocks of the others bound the walks
SHOWN_WITHIN = 64


_PACKS: dict[int, struct.Struct] = {}  # m -> the Struct of m int64s (m <= BLOCK)


def _extend(arr: array[int], vals: SeqABC[int]) -> None:
    """``arr.extend(vals)`` for an ``array("q")``, faster for more than a few values.

    ``array.extend`` converts each int with ``PyArg_Parse`` (~200 instructions, 6% of
    applying a peer's keystroke change); ``struct`` converts it directly (~30), so values
    go in packed ``BLOCK`` at a time (a Struct per count: at most ``BLOCK`` small ones).
    """
    n = len(vals)
    if n < 8:
        arr.extend(vals)
        return
    k = 0
    while k < n:
        m = n - k if n - k < BLOCK else BLOCK
        st = _PACKS.get(m)
        if st is None:
            st = _PACKS[m] = struct.Struct(f"{m}q")
        arr.frombytes(st.pack(*vals[k : k + m]))
        k += m


class _RawStore:
    """The encoded changes, in zlib blocks of ``BLOCK`` whose dictionary is the hashes.

    Most of a small change is its author (16+ bytes, the same in change after change, which
    zlib squeezes) and its deps: 34 bytes each, random, but most often the hash of the
    change just before it, which History keeps anyway.  So a block is compressed with
    the hashes of the changes from the one before the block to its second last as zlib's
    preset dictionary: a dep found there costs zlib a back-reference of ~3 bytes.  Blocks
    are small enough (256 changes of ~100 bytes, plus 8 KB of dictionary) for every change
    to reach the dictionary within zlib's 32 KB window.  With one change per keystroke
    the paper trace's 27.8 MB of changes take 3.4 MB this way (``zlib`` alone: 11.5 MB).

    Changes are kept whole in ``recent`` until ``BLOCK`` of them have arrived; the block is
    then compressed in one call, so appending is a list append.  The last block inflated
    is cached: histories are read in order (sync, save) or near their end.  No buffer
    grows beyond a block, which matters in CPython: growing big buffers by realloc leaves
    the C heap fragmented.
    """

    __slots__ = ("_cache", "blocks", "hashes", "off", "recent")

    def __init__(self, hashes: HashIndex) -> None:
        self.hashes = hashes  # the history's hashes (the dictionary of every block)
        self.blocks: list[bytes] = []  # full blocks, zlib-compressed
        self.recent: list[bytes] = []  # the changes after the full blocks (< BLOCK)
        # change number -> where its bytes start in the full blocks' bytes back to back
        # (uncompressed); one more entry for the end
        self.off = array("q", [0])
        self._cache: tuple[int, bytes] = (-1, b"")  # (block number, its inflated bytes)

    def __len__(self) -> int:
        return len(self.off) - 1 + len(self.recent)

    def copy(self, hashes: HashIndex) -> _RawStore:
        new = _RawStore(hashes)
        new.blocks = self.blocks.copy()  # immutable bytes: shared
        new.recent = self.recent.copy()
        new.off = array("q", self.off)
        new._cache = self._cache
        return new

    def _zdict(self, b: int) -> bytes:
        """Block ``b``'s dictionary: the hashes of changes ``b * BLOCK - 1`` to
        ``b * BLOCK + BLOCK - 2``, the deps of a linear run of changes in the block."""
        first = b * BLOCK - 1
        return bytes(self.hashes.buf[max(first, 0) * HASH_LEN : (first + BLOCK) * HASH_LEN])

    def seal(self) -> None:
        """Compress the ``BLOCK`` changes in ``recent`` into a block."""
        recent = self.recent
        assert len(recent) == BLOCK
        z = zlib.compressobj(1, zlib.DEFLATED, -15, zdict=self._zdict(len(self.blocks)))
        self.blocks.append(z.compress(b"".join(recent)) + z.flush())
        off = self.off
        _extend(off, list(itertools.accumulate(map(len, recent), initial=off[-1]))[1:])
        self.recent = []

    def reopen(self, b: int) -> None:
        """Turn block ``b`` back into ``recent``, dropping the blocks after it."""
        data = self._inflate(b)
        off = self.off
        s = off[b * BLOCK]
        self.recent = [data[off[i] - s : off[i + 1] - s] for i in range(b * BLOCK, (b + 1) * BLOCK)]
        del self.blocks[b:]
        del off[b * BLOCK + 1 :]
        self._cache = (-1, b"")

    def truncate(self, n: int) -> None:
        """Forget changes ``n`` and above (before the hashes forget theirs)."""
        full = len(self.off) - 1
        if n < full:
            self.reopen(n // BLOCK)
            full = len(self.off) - 1
        del self.recent[n - full :]

    def _inflate(self, b: int) -> bytes:
        cb, data = self._cache
        if cb != b:
            z = zlib.decompressobj(-15, zdict=self._zdict(b))
            data = z.decompress(self.blocks[b])
            self._cache = (b, data)
        return data

    def get(self, i: int) -> bytes:
        """The bytes of change number ``i``.  O(BLOCK) when its block is not the cached
        one, else O(size)."""
        off = self.off
        k = i - (len(off) - 1)
        if k >= 0:
            return self.recent[k]
        data = self._inflate(i // BLOCK)
        s = off[i // BLOCK * BLOCK]
        return data[off[i] - s : off[i + 1] - s]


class History:
    """Parallel per-change lists plus indexes; see the module docstring."""

    __slots__ = (
        "_actors",
        "_clocks",
        "_dep1",
        "_deps_many",
        "_heads",
        "_raw",
        "actor",
        "base",
        "by_actor",
        "covered",
        "index",
        "n_ops",
        "start",
    )

    def __init__(self) -> None:
        self.index = HashIndex()  # change number <-> hash
        self._raw = _RawStore(self.index)  # change number -> encoded bytes
        self.actor: list[bytes] = []  # change number -> author (one object per actor)
        self._actors: dict[bytes, bytes] = {}  # interns authors: decoded ones are copies
        # Per-change numbers live in typed arrays (8 bytes each), not lists of int objects:
        # with one change per keystroke that is the difference between ~40 MB and ~10 MB.
        self.start = array("q")  # change number -> start_op
        self.n_ops = array("q")  # change number -> counters consumed
        self._dep1 = array("q")  # change number -> its only dep, NO_DEP, or MANY_DEPS
        # change number -> every change numbered below this is in its causal past (itself
        # included): most references a change makes are to changes below it, which then
        # need no clock (Doc._check_causality).  4 bytes each: change numbers are below
        # 2**32 (the hash index's slots hold them so too)
        self.covered = array("I")
        self._deps_many: dict[int, tuple[int, ...]] = {}  # change number -> its deps (>1)
        self.by_actor: dict[bytes, array[int]] = {}
        # actor -> its change numbers in seq order
        self._heads: dict[int, bytes] = {}  # change numbers nothing depends on -> hashes
        self.base: Base | None = None  # the snapshot cut this history starts after
        self._clocks: dict[int, dict[bytes, int]] = {}  # change number -> its clock (sparse)

    def __len__(self) -> int:
        return len(self.actor)

    def hash_at(self, i: int) -> bytes:
        """The hash of change number ``i``.  O(1)."""
        return self.index.hash_at(i)

    def hashes(self) -> list[bytes]:
        """Every change's hash, in the order applied.  O(history)."""
        return self.index.all()

    def number(self, h: bytes) -> int | None:
        """The change number of hash ``h``, or None if this history lacks it.  O(1).

        A few heads are looked at first: a remote change's deps are most often heads, and
        then the hash index (which appends reach lazily: crdt.hashindex) is not needed."""
        heads = self._heads
        if len(heads) <= 4:
            for i, x in heads.items():
                if x == h:
                    return i
        return self.index.get(h)

    def numbers(self, hashes: SeqABC[bytes]) -> tuple[int, ...]:
        """The change numbers of ``hashes``, all of which this history must have."""
        get = self.number
        out = tuple([get(x) for x in hashes])
        if None in out:
            raise KeyError("unknown change hash")  # callers check first: an internal error
        return out  # type: ignore[return-value]

    def copy(self) -> History:
        """An independent copy (C-level copies of the arrays and dicts).  O(changes)."""
        new = History()
        new.index = self.index.copy()
        new._raw = self._raw.copy(new.index)
        new.actor = self.actor.copy()
        new._actors = dict(self._actors)
        new.start = array("q", self.start)
        new.n_ops = array("q", self.n_ops)
        new._dep1 = array("q", self._dep1)
        new.covered = array("I", self.covered)
        new._deps_many = dict(self._deps_many)
        new.by_actor = {a: array("q", n) for a, n in self.by_actor.items()}
        new._heads = dict(self._heads)
        new.base = self.base
        new._clocks = dict(self._clocks)
        return new

    def raw_at(self, i: int) -> bytes:
        """The encoded bytes of change number ``i``.  O(size)."""
        return self._raw.get(i)

    def raws(self) -> list[bytes]:
        """Every change's bytes, in the order applied.  O(history)."""
        return [self.raw_at(i) for i in range(len(self.actor))]

    def deps(self, i: int) -> tuple[int, ...]:
        """The change numbers change ``i`` depends on."""
        d = self._dep1[i]
        if d >= 0:
            return (d,)
        return () if d == NO_DEP else self._deps_many[i]

    def __contains__(self, h: bytes) -> bool:
        return h in self.index

    @property
    def heads(self) -> list[bytes]:
        """Head hashes, sorted bytewise."""
        if not self.actor and self.base is not None:
            return sorted(self.base.heads)
        return sorted(self._heads.values())

    def heads_idx(self) -> dict[int, bytes]:
        """Head change numbers -> their hashes (do not modify)."""
        return self._heads

    def max_op(self) -> int:
        """The greatest counter in the document (0 if empty).  O(heads)."""
        st, no = self.start, self.n_ops
        m = max((st[i] + no[i] - 1 for i in self._heads), default=0)
        if self.base is not None:
            m = max(m, max(self.base.max_op.values(), default=0))
        return m

    def seq_of(self, actor: bytes) -> int:
        """How many changes ``actor`` has made (its last seq)."""
        nums = self.by_actor.get(actor)
        base = self.base
        if nums is None:
            return base.clock.get(actor, 0) if base is not None else 0
        return len(nums) + base.clock.get(actor, 0) if base is not None else len(nums)

    def _doc_clock(self) -> dict[bytes, int]:
        """Per actor with changes here, its last seq: the clock of the whole history."""
        base = self.base
        if base is None:
            return {a: len(nums) for a, nums in self.by_actor.items()}
        return {a: len(nums) + base.clock.get(a, 0) for a, nums in self.by_actor.items()}

    def add(self, c: Change, dep_idx: tuple[int, ...], whole: bool = False) -> int:
        """Record an applied change whose deps are the change numbers ``dep_idx``; ``whole``:
        they are all the current heads (say False if unsure: the deps of a merge are
        compared with the heads here, and a change on one dep needs no telling).  O(deps)."""
        h = c.hash
        i = len(self.actor)
        self.index.buf += h  # (HashIndex.append, inlined: its table catches up lazily)
        a = c.actor
        a = self._actors.setdefault(a, a)
        start_op = c.start_op
        nd = len(dep_idx)
        recent = self._raw.recent
        recent.append(c.raw)
        if len(recent) == BLOCK:
            self._raw.seal()
        self.actor.append(a)
        self.start.append(start_op)
        self.n_ops.append(c.n_ops)
        heads = self._heads
        covered = self.covered
        if nd == 1:
            d0 = dep_idx[0]
            self._dep1.append(d0)
            heads.pop(d0, None)
            cov = covered[d0]
        elif nd:
            self._dep1.append(MANY_DEPS)
            self._deps_many[i] = dep_idx
            if not whole and nd == len(heads):  # (a merge of every head: all of them)
                whole = all([d in heads for d in dep_idx])
            cov = 0
            for d in dep_idx:
                heads.pop(d, None)
                if covered[d] > cov:
                    cov = covered[d]
        else:
            self._dep1.append(NO_DEP)
            cov = 0
        # (made on every head, or on a past holding every change below it: all of them)
        covered.append(i + 1 if whole or cov == i else cov)
        heads[i] = h
        nums = self.by_actor.get(a)
        if nums is None:
            nums = self.by_actor[a] = array("q")
        nums.append(i)
        if whole and not i & (CLOCK_EVERY - 1):
            # a change made on the heads has everything in its past: its clock is the
            # document's; caching one in CLOCK_EVERY saves the per-actor bisects below
            self._clocks[i] = self._doc_clock()
        return i

    def add_chain(self, first: int, changes: list[Change]) -> None:
        """Record applied changes by one author that each depend on the one before, the
        first on change ``first``, the only head: exactly what :meth:`add` records for each
        (``whole``), in C-level extends instead of a dozen Python steps per change.  A peer
        typing sends such a chain; the fast path gathers it and records it here.
        O(changes)."""
        if changes:
            self.add_run(
                first,
                changes[0].actor,
                [c.hash for c in changes],
                [c.raw for c in changes],
                [c.start_op for c in changes],
                [c.n_ops for c in changes],
            )

    def add_run(
        self,
        first: int,
        actor: bytes,
        hashes: list[bytes],
        raws: list[bytes],
        starts: list[int],
        n_ops: list[int],
    ) -> None:
        """:meth:`add_chain` given the chain's fields, one list per field (index ``k``: the
        ``k``-th change), with no :class:`Change` objects: the document seals a run of its
        own commits this way.  O(changes)."""
        n = len(raws)
        if not n:
            return
        i0 = len(self.actor)
        self.index.buf += b"".join(hashes)  # (before sealing: a block's dictionary)
        a = self._actors.setdefault(actor, actor)
        store = self._raw
        k = 0
        while k < n:  # (a block is sealed as soon as it is full, as add does)
            recent = store.recent
            room = BLOCK - len(recent)
            recent.extend(raws[k : k + room])
            k += room
            if len(recent) == BLOCK:
                store.seal()
        self.actor.extend([a] * n)
        _extend(self.start, starts)
        _extend(self.n_ops, n_ops)
        self.covered.extend(range(i0 + 1, i0 + n + 1))  # (not _extend: 4-byte items)
        self._dep1.append(first)
        _extend(self._dep1, range(i0, i0 + n - 1))
        heads = self._heads
        heads.pop(first, None)
        heads[i0 + n - 1] = hashes[-1]
        nums = self.by_actor.get(a)
        if nums is None:
            nums = self.by_actor[a] = array("q")
        _extend(nums, range(i0, i0 + n))
        i = (i0 + CLOCK_EVERY - 1) & -CLOCK_EVERY  # the first change whose clock add caches
        if i < i0 + n:
            full = self._doc_clock()  # (everyone's count; the actor's after the last)
            last = full[a]
            while i < i0 + n:
                clock = dict(full)
                clock[a] = last - (i0 + n - 1 - i)
                self._clocks[i] = clock
                i += CLOCK_EVERY

    def truncate(self, n: int) -> None:
        """Forget changes numbered ``n`` and above (undoing a failed batch).  O(removed)."""
        if n >= len(self.actor):
            return
        self._raw.truncate(n)
        self.index.truncate(n)
        while len(self.actor) > n:
            i = len(self.actor) - 1
            a = self.actor.pop()
            self.start.pop()
            self.n_ops.pop()
            self._dep1.pop()
            self.covered.pop()
            self._deps_many.pop(i, None)
            nums = self.by_actor[a]
            nums.pop()
            if not nums:
                del self.by_actor[a]
            self._clocks.pop(i, None)
        self._heads = self._recompute_heads()

    def _recompute_heads(self) -> dict[int, bytes]:
        n = len(self.actor)
        has_child = bytearray(n)
        for i in range(n):
            for d in self.deps(i):
                has_child[d] = 1
        return {i: self.index.hash_at(i) for i in range(n) if not has_child[i]}

    # ------------------------------------------------------------ causality

    def change_of(self, ctr: int, actor: bytes) -> int | None:
        """The change number holding op ``(ctr, actor)``, or None if no change has it."""
        nums = self.by_actor.get(actor)
        if nums is None:
            return None
        start = self.start
        # an actor's changes have ascending start_ops: bisect its change numbers by them
        k = bisect_right(nums, ctr, key=start.__getitem__) - 1
        if k < 0:
            return None
        i = nums[k]
        return i if ctr < start[i] + self.n_ops[i] else None

    def clock(self, dep_idx: SeqABC[int]) -> dict[bytes, int]:
        """Per actor, the greatest seq in the causal past of ``dep_idx`` (inclusive); a new
        dict the caller may keep.

        Walks back from ``dep_idx`` and stops at changes whose clock is cached
        (:meth:`remember`) and below the greatest ``covered`` prefix it has met (those
        changes are counted per actor at once).  A change is checked without a clock only
        when that prefix is close behind it (:meth:`shown_past`), and callers cache the clock
        of every change that needed one, so each walk covers few changes: those since the
        pasts of the deps diverged, or since the last change whose clock is cached.
        """
        if len(dep_idx) == 1:  # (a peer typing on its own last change: cached, one copy)
            cached = self._clocks.get(dep_idx[0])
            if cached is not None:
                return dict(cached)
        actor, deps = self.actor, self.deps
        by_actor = self.by_actor
        base = self.base
        cache = self._clocks
        covered = self.covered
        clock: dict[bytes, int] = {}
        floor = 0  # every change numbered below it is in the past, and counted in ``clock``
        seen: set[int] = set()
        stack = list(dep_idx)
        while stack:
            i = stack.pop()
            if i < floor or i in seen:
                continue
            seen.add(i)
            cached = cache.get(i)
            if cached is not None:
                for a, s in cached.items():
                    if s > clock.get(a, 0):
                        clock[a] = s
                continue
            c = covered[i]
            if c > floor:
                # everything numbered below c is in its past: per actor, count those (the
                # deps come first, so this happens for few changes of a walk)
                floor = c
                for a, nums in by_actor.items():
                    s = bisect_right(nums, c - 1)
                    if s:
                        if base is not None:
                            s += base.clock.get(a, 0)
                        if s > clock.get(a, 0):
                            clock[a] = s
                if c > i:
                    continue  # (i itself too: it was made on everything before it)
            a = actor[i]
            # seq of change i = its position in the actor's list + 1
            nums = by_actor[a]
            s = bisect_right(nums, i) + (base.clock.get(a, 0) if base is not None else 0)
            if s > clock.get(a, 0):
                clock[a] = s
            stack.extend(deps(i))
        return clock

    def shown_past(self, actor: bytes, dep_idx: SeqABC[int], ops: Iterable[OpId]) -> bool:
        """Whether ``actor``'s last change here and every op of ``ops`` (ops this history
        holds) are in the causal past of ``dep_idx``, as shown without a clock: each is
        in a change numbered below the greatest ``covered`` prefix of the deps, or in a
        dep.  False: the clock must decide (:meth:`clock`, which the caller then caches).

        An op of another actor is below if that actor's last change numbered below is at
        or after it (its counters ascend along its chain).  When that prefix is more than
        ``SHOWN_WITHIN`` changes behind (a peer that went away long ago and left a change
        nobody has merged holds it back), the answer is False: such changes keep their
        clocks, so that the walks of later clocks stay short.  O(ops log changes), in C:
        no walk, no lookup of the op's own change.
        """
        covered = self.covered
        nd = len(dep_idx)
        if nd == 1:
            below = covered[dep_idx[0]]
        elif nd == 2:  # (a change made on a merge: no list to take the max of)
            below = covered[dep_idx[0]]
            c = covered[dep_idx[1]]
            if c > below:
                below = c
        else:
            below = max([covered[d] for d in dep_idx], default=0)
        if len(covered) - below > SHOWN_WITHIN:
            return False
        by_actor = self.by_actor
        own = by_actor.get(actor)
        if own is not None and own[-1] >= below and own[-1] not in dep_idx:
            return False
        start, n_ops = self.start, self.n_ops
        for fc, fa in ops:
            if fa == actor:
                continue  # (its own earlier op: in its last change or before it)
            nums = by_actor.get(fa)
            if nums is None:
                return False
            k = bisect_right(nums, below - 1)
            if k:
                e = nums[k - 1]
                if fc < start[e] + n_ops[e]:
                    continue
            names = self.actor
            if not any(names[d] == fa and start[d] <= fc < start[d] + n_ops[d] for d in dep_idx):
                return False
        return True

    def remember(self, i: int, clock: dict[bytes, int]) -> None:
        """Cache the clock (inclusive) of change number ``i``."""
        self._clocks[i] = clock

    def change_at_seq(self, actor: bytes, seq: int) -> bytes | None:
        """The hash of ``actor``'s change number ``seq``, or None if this history does not
        hold it (not made yet, or before the snapshot cut).  O(1)."""
        nums = self.by_actor.get(actor)
        k = seq - 1 - (self.base.clock.get(actor, 0) if self.base is not None else 0)
        if nums is None or not 0 <= k < len(nums):
            return None
        return self.index.hash_at(nums[k])

    def seq_number(self, i: int) -> int:
        """The seq of change number ``i``."""
        a = self.actor[i]
        s = bisect_right(self.by_actor[a], i)
        return s + self.base.clock.get(a, 0) if self.base is not None else s

    def ancestors(self, heads: Iterable[int]) -> set[int]:
        """Every change number in the causal past of ``heads``, inclusive.  O(result)."""
        deps = self.deps
        seen: set[int] = set()
        stack = list(heads)
        while stack:
            i = stack.pop()
            if i not in seen:
                seen.add(i)
                stack.extend(deps(i))
        return seen
