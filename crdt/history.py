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
from collections.abc import Sequence as SeqABC
from typing import TYPE_CHECKING

import msgpack

from .change import Change
from .hashindex import HashIndex

if TYPE_CHECKING:
    from .snapshot import Base


NO_DEP = -1
MANY_DEPS = -2
FULL = 0xFFFF  # _RawStore: the change is kept whole
CLOCK_EVERY = 64  # cache the clock of every 64th change made on the heads (a power of 2)


_packb = msgpack.packb


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
            # the encoded seq, start_op, time and message: an array of the four, less its
            # one-byte header (one C call is cheaper than sizing each field in Python)
            mid = len(_packb((c.seq, c.start_op, c.time, c.message))) - 1
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
        "_actors",
        "_clocks",
        "_dep1",
        "_deps_many",
        "_heads",
        "_raw",
        "_vv",
        "actor",
        "base",
        "by_actor",
        "index",
        "n_ops",
        "start",
    )

    def __init__(self) -> None:
        self.index = HashIndex()  # change number <-> hash
        self._raw = _RawStore()  # change number -> encoded bytes (see raw_at)
        self.actor: list[bytes] = []  # change number -> author (one object per actor)
        self._actors: dict[bytes, bytes] = {}  # interns authors: decoded ones are copies
        # Per-change numbers live in typed arrays (8 bytes each), not lists of int objects:
        # with one change per keystroke that is the difference between ~40 MB and ~10 MB.
        self.start = array("q")  # change number -> start_op
        self.n_ops = array("q")  # change number -> counters consumed
        self._dep1 = array("q")  # change number -> its only dep, NO_DEP, or MANY_DEPS
        self._deps_many: dict[int, tuple[int, ...]] = {}  # change number -> its deps (>1)
        self.by_actor: dict[bytes, tuple[array[int], array[int]]] = {}
        # actor -> (start_ops of its changes in seq order, their change numbers)
        self._heads: dict[int, bytes] = {}  # change numbers nothing depends on -> hashes
        self.base: Base | None = None  # the snapshot cut this history starts after
        self._clocks: dict[int, dict[bytes, int]] = {}  # change number -> its clock (sparse)
        self._vv: dict[bytes, int] = {}  # actor -> its last seq in this history (doc clock)

    def __len__(self) -> int:
        return len(self.actor)

    def hash_at(self, i: int) -> bytes:
        """The hash of change number ``i``.  O(1)."""
        return self.index.hash_at(i)

    def hashes(self) -> list[bytes]:
        """Every change's hash, in the order applied.  O(history)."""
        return self.index.all()

    def number(self, h: bytes) -> int | None:
        """The change number of hash ``h``, or None if this history lacks it."""
        return self.index.get(h)

    def numbers(self, hashes: SeqABC[bytes]) -> tuple[int, ...]:
        """The change numbers of ``hashes``, all of which this history must have."""
        get = self.index.get
        out = tuple([get(x) for x in hashes])
        if None in out:
            raise KeyError("unknown change hash")  # callers check first: an internal error
        return out  # type: ignore[return-value]

    def copy(self) -> History:
        """An independent copy (C-level copies of the arrays and dicts).  O(changes)."""
        new = History()
        new.index = self.index.copy()
        raw = new._raw
        raw.buf = bytearray(self._raw.buf)
        raw.off = array("q", self._raw.off)
        raw.mid = array("H", self._raw.mid)
        new.actor = self.actor.copy()
        new._actors = dict(self._actors)
        new.start = array("q", self.start)
        new.n_ops = array("q", self.n_ops)
        new._dep1 = array("q", self._dep1)
        new._deps_many = dict(self._deps_many)
        new.by_actor = {a: (array("q", s), array("q", n)) for a, (s, n) in self.by_actor.items()}
        new._heads = dict(self._heads)
        new.base = self.base
        new._clocks = dict(self._clocks)
        new._vv = dict(self._vv)
        return new

    def raw_at(self, i: int) -> bytes:
        """The encoded bytes of change number ``i``.  O(size)."""
        ha = self.index.hash_at
        return self._raw.get(i, self.actor[i], [ha(d) for d in self.deps(i)])

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
        s = self._vv.get(actor)
        if s is not None:
            return s
        base = self.base
        return base.clock.get(actor, 0) if base is not None else 0

    def add(self, c: Change, dep_idx: tuple[int, ...]) -> int:
        """Record an applied change whose deps are the change numbers ``dep_idx``.  O(deps)."""
        h = c.hash
        index = self.index
        hbuf = index.buf
        i = len(hbuf) >> 5
        hbuf += h
        recent = index.recent
        recent[h] = i
        if len(recent) > index.limit:
            index.merge()
        a = c.actor
        a = self._actors.setdefault(a, a)
        start_op = c.start_op
        nd = len(dep_idx)
        # deps that are not changes of this history (a snapshot cut) keep the bytes whole
        self._raw.append(c, nd, nd == len(c.deps))
        self.actor.append(a)
        self.start.append(start_op)
        self.n_ops.append(c.n_ops)
        heads = self._heads
        # only a change whose clock is cached needs to know whether it was made on the heads
        at_heads = (
            not i & (CLOCK_EVERY - 1) and nd == len(heads) and all(d in heads for d in dep_idx)
        )
        if nd == 1:
            d0 = dep_idx[0]
            self._dep1.append(d0)
            heads.pop(d0, None)
        else:
            if nd:
                self._dep1.append(MANY_DEPS)
                self._deps_many[i] = dep_idx
            else:
                self._dep1.append(NO_DEP)
            for d in dep_idx:
                heads.pop(d, None)
        heads[i] = h
        ba = self.by_actor.get(a)
        if ba is None:
            ba = self.by_actor[a] = (array("q"), array("q"))
        ba[0].append(start_op)
        nums = ba[1]
        nums.append(i)
        vv = self._vv
        base = self.base
        vv[a] = len(nums) + base.clock.get(a, 0) if base is not None else len(nums)
        if at_heads:
            # a change made on the heads has everything in its past: its clock is the
            # document's; caching one in CLOCK_EVERY bounds every later walk
            self._clocks[i] = dict(vv)
        return i

    def truncate(self, n: int) -> None:
        """Forget changes numbered ``n`` and above (undoing a failed batch).  O(removed)."""
        self.index.truncate(n)
        while len(self.actor) > n:
            i = len(self.actor) - 1
            self._raw.pop()
            a = self.actor.pop()
            self.start.pop()
            self.n_ops.pop()
            self._dep1.pop()
            self._deps_many.pop(i, None)
            ba = self.by_actor[a]
            ba[0].pop()
            ba[1].pop()
            if not ba[0]:
                del self.by_actor[a]
            self._clocks.pop(i, None)
        self._heads = self._recompute_heads()
        base = self.base
        self._vv = {
            a: len(nums) + (base.clock.get(a, 0) if base else 0)
            for a, (_, nums) in self.by_actor.items()
        }

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

    def change_at_seq(self, actor: bytes, seq: int) -> bytes | None:
        """The hash of ``actor``'s change number ``seq``, or None if this history does not
        hold it (not made yet, or before the snapshot cut).  O(1)."""
        ba = self.by_actor.get(actor)
        k = seq - 1 - (self.base.clock.get(actor, 0) if self.base is not None else 0)
        if ba is None or not 0 <= k < len(ba[1]):
            return None
        return self.index.hash_at(ba[1][k])

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
