"""The change graph: which changes a document has, how they depend on each other.

Changes are numbered in the order they were applied (always a causal order), and every
per-change fact is kept in a parallel list indexed by that number, which is far smaller
than one object per change.  ``heads`` are the changes nothing depends on.

Causality queries ("is op X in the causal past of these deps") compare vector clocks: an
actor's changes form a chain (each has the previous one in its causal past), so X is in the
past iff the clock of the deps has at least X's seq for X's actor.  A change made on the
current heads needs no clock (its past is everything); for the others the clock is computed
by walking back to the nearest change whose clock is cached, and then cached itself.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .change import Change

if TYPE_CHECKING:
    from .snapshot import Base


NO_DEP = -1
MANY_DEPS = -2
FULL = 0xFFFF  # _RawStore: the change is kept whole
CLOCK_EVERY = 64  # cache the clock of every 64th change made on the heads (a power of 2)


def _uint_len(v: int) -> int:
    """Bytes of the canonical msgpack encoding of a non-negative int."""
    if v < 128:
        return 1
    if v < 256:
        return 2
    if v < 65536:
        return 3
    return 5 if v < 4294967296 else 9


class _RawStore:
    """The encoded changes, without the two fields History already holds.

    A change's bytes are ``99 01 <actor> <seq start_op time message> <deps> <table ops>``;
    the author (16+ bytes) and the dep hashes (34 bytes each) are most of a small change, and
    History keeps both anyway.  So each change is stored as the middle and the tail only,
    and :meth:`get` splices the author and deps back in, byte for byte.  With one change per
    keystroke this holds the paper trace's history in ~6 MB instead of ~28 MB.
    """

    __slots__ = ("buf", "mid", "off")

    def __init__(self) -> None:
        self.buf = bytearray()  # stored pieces, back to back
        self.off = array("q", [0])  # change number -> start of its piece in buf (+ end)
        self.mid = array("H")  # change number -> length of its middle part, or FULL

    def __len__(self) -> int:
        return len(self.mid)

    def append(self, c: Change, ndeps: int, representable: bool) -> None:
        raw = c.raw
        buf = self.buf
        if representable:
            a_end = 4 + len(c.actor)
            msg = c.message
            mid = _uint_len(c.seq) + _uint_len(c.start_op) + _uint_len(c.time)
            if msg is None:
                mid += 1
            else:
                n = len(msg.encode())
                mid += n + (1 if n < 32 else 2 if n < 256 else 3 if n < 65536 else 5)
            if mid < FULL:
                p = a_end + mid
                buf += raw[a_end:p]
                buf += raw[p + (1 if ndeps < 16 else 3) + 34 * ndeps :]
                self.mid.append(mid)
                self.off.append(len(buf))
                return
        buf += raw
        self.mid.append(FULL)
        self.off.append(len(buf))

    def pop(self) -> None:
        self.mid.pop()
        self.off.pop()
        del self.buf[self.off[-1] :]

    def get(self, i: int, actor: bytes, deps: list[bytes]) -> bytes:
        s, e = self.off[i], self.off[i + 1]
        m = self.mid[i]
        buf = self.buf
        if m == FULL:
            return bytes(buf[s:e])
        n = len(deps)
        head = bytes([0x90 | n]) if n < 16 else b"\xdc" + n.to_bytes(2, "big")
        return b"".join(
            (
                b"\x99\x01\xc4",
                bytes([len(actor)]),
                actor,
                buf[s : s + m],
                head,
                *[b"\xc4\x20" + d for d in deps],
                buf[s + m : e],
            )
        )


class History:
    """Parallel per-change lists plus indexes; see the module docstring."""

    __slots__ = (
        "_clocks",
        "_dep1",
        "_deps_many",
        "_heads",
        "_raw",
        "_vv",
        "actor",
        "base",
        "by_actor",
        "hashes",
        "index",
        "n_ops",
        "start",
    )

    def __init__(self) -> None:
        self.hashes: list[bytes] = []  # change number -> hash
        self._raw = _RawStore()  # change number -> encoded bytes (see raw_at)
        self.actor: list[bytes] = []  # change number -> author
        # Per-change numbers live in typed arrays (8 bytes each), not lists of int objects:
        # with one change per keystroke that is the difference between ~40 MB and ~10 MB.
        self.start = array("q")  # change number -> start_op
        self.n_ops = array("q")  # change number -> counters consumed
        self._dep1 = array("q")  # change number -> its only dep, NO_DEP, or MANY_DEPS
        self._deps_many: dict[int, tuple[int, ...]] = {}  # change number -> its deps (>1)
        self.index: dict[bytes, int] = {}  # hash -> change number
        self.by_actor: dict[bytes, tuple[array[int], array[int]]] = {}
        # actor -> (start_ops of its changes in seq order, their change numbers)
        self._heads: set[int] = set()  # change numbers nothing depends on
        self.base: Base | None = None  # the snapshot cut this history starts after
        self._clocks: dict[int, dict[bytes, int]] = {}  # change number -> its clock (sparse)
        self._vv: dict[bytes, int] = {}  # actor -> its last seq in this history (doc clock)

    def __len__(self) -> int:
        return len(self.hashes)

    def copy(self) -> History:
        """An independent copy (C-level copies of the arrays and dicts).  O(changes)."""
        new = History()
        new.hashes = self.hashes.copy()
        raw = new._raw
        raw.buf = bytearray(self._raw.buf)
        raw.off = array("q", self._raw.off)
        raw.mid = array("H", self._raw.mid)
        new.actor = self.actor.copy()
        new.start = array("q", self.start)
        new.n_ops = array("q", self.n_ops)
        new._dep1 = array("q", self._dep1)
        new._deps_many = dict(self._deps_many)
        new.index = dict(self.index)
        new.by_actor = {a: (array("q", s), array("q", n)) for a, (s, n) in self.by_actor.items()}
        new._heads = set(self._heads)
        new.base = self.base
        new._clocks = dict(self._clocks)
        new._vv = dict(self._vv)
        return new

    def raw_at(self, i: int) -> bytes:
        """The encoded bytes of change number ``i``.  O(size)."""
        hs = self.hashes
        return self._raw.get(i, self.actor[i], [hs[d] for d in self.deps(i)])

    def raws(self) -> list[bytes]:
        """Every change's bytes, in the order applied.  O(history)."""
        return [self.raw_at(i) for i in range(len(self.hashes))]

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
        hs = self.hashes
        if not hs and self.base is not None:
            return sorted(self.base.heads)
        return sorted(hs[i] for i in self._heads)

    def heads_idx(self) -> set[int]:
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
        ba = self.by_actor.get(actor)
        n = len(ba[0]) if ba is not None else 0
        base = self.base
        return n + base.clock.get(actor, 0) if base is not None else n

    def add(self, c: Change, dep_idx: tuple[int, ...]) -> int:
        """Record an applied change whose deps are the change numbers ``dep_idx``.  O(deps)."""
        hashes = self.hashes
        i = len(hashes)
        h = c.hash
        hashes.append(h)
        a = c.actor
        start_op = c.start_op
        nd = len(dep_idx)
        # deps that are not changes of this history (a snapshot cut) keep the bytes whole
        self._raw.append(c, nd, nd == len(c.deps))
        self.actor.append(a)
        self.start.append(start_op)
        self.n_ops.append(c.n_ops)
        heads = self._heads
        cache = not i & (CLOCK_EVERY - 1)
        # only a cached change needs to know whether it was made on the heads
        at_heads = cache and nd == len(heads) and all(d in heads for d in dep_idx)
        if nd == 1:
            d0 = dep_idx[0]
            self._dep1.append(d0)
            heads.discard(d0)
        else:
            if nd:
                self._dep1.append(MANY_DEPS)
                self._deps_many[i] = dep_idx
            else:
                self._dep1.append(NO_DEP)
            for d in dep_idx:
                heads.discard(d)
        heads.add(i)
        self.index[h] = i
        ba = self.by_actor.get(a)
        if ba is None:
            ba = self.by_actor[a] = (array("q"), array("q"))
        ba[0].append(start_op)
        nums = ba[1]
        nums.append(i)
        vv = self._vv
        base = self.base
        vv[a] = len(nums) + (base.clock.get(a, 0) if base is not None else 0)
        if at_heads:
            # a change made on the heads has everything in its past: its clock is the
            # document's; caching one in CLOCK_EVERY bounds every later walk
            self._clocks[i] = dict(vv)
        return i

    def truncate(self, n: int) -> None:
        """Forget changes numbered ``n`` and above (undoing a failed batch).  O(removed)."""
        while len(self.hashes) > n:
            i = len(self.hashes) - 1
            h = self.hashes.pop()
            self._raw.pop()
            a = self.actor.pop()
            self.start.pop()
            self.n_ops.pop()
            self._dep1.pop()
            self._deps_many.pop(i, None)
            del self.index[h]
            ba = self.by_actor[a]
            ba[0].pop()
            ba[1].pop()
            if not ba[0]:
                del self.by_actor[a]
            self._heads.discard(i)
            self._clocks.pop(i, None)
        self._heads = self._recompute_heads()
        base = self.base
        self._vv = {
            a: len(nums) + (base.clock.get(a, 0) if base else 0)
            for a, (_, nums) in self.by_actor.items()
        }

    def _recompute_heads(self) -> set[int]:
        n = len(self.hashes)
        has_child = bytearray(n)
        for i in range(n):
            for d in self.deps(i):
                has_child[d] = 1
        return {i for i in range(n) if not has_child[i]}

    # ------------------------------------------------------------ causality

    def change_of(self, ctr: int, actor: bytes) -> int | None:
        """The change number holding op ``(ctr, actor)``, or None if no change has it."""
        ba = self.by_actor.get(actor)
        if ba is None:
            return None
        starts, nums = ba
        k = bisect_right(starts, ctr) - 1
        if k < 0:
            return None
        i = nums[k]
        return i if ctr < self.start[i] + self.n_ops[i] else None

    def clock(self, dep_idx: Iterable[int]) -> dict[bytes, int]:
        """Per actor, the greatest seq in the causal past of ``dep_idx`` (inclusive).

        Walks back from ``dep_idx`` and stops at changes whose clock is cached
        (:meth:`remember`); callers cache the clock of every change that needed one, so in
        a concurrent history each walk only covers the changes since the last such change.
        """
        actor, deps = self.actor, self.deps
        by_actor = self.by_actor
        base = self.base
        cache = self._clocks
        clock: dict[bytes, int] = {}
        seen: set[int] = set()
        stack = list(dep_idx)
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            cached = cache.get(i)
            if cached is not None:
                for a, s in cached.items():
                    if s > clock.get(a, 0):
                        clock[a] = s
                continue
            a = actor[i]
            # seq of change i = its position in the actor's list + 1
            nums = by_actor[a][1]
            s = bisect_right(nums, i) + (base.clock.get(a, 0) if base is not None else 0)
            if s > clock.get(a, 0):
                clock[a] = s
            stack.extend(deps(i))
        return clock

    def remember(self, i: int, clock: dict[bytes, int]) -> None:
        """Cache the clock (inclusive) of change number ``i``."""
        self._clocks[i] = clock

    def seq_number(self, i: int) -> int:
        """The seq of change number ``i``."""
        a = self.actor[i]
        s = bisect_right(self.by_actor[a][1], i)
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
