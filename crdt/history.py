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

from bisect import bisect_right
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .change import Change

if TYPE_CHECKING:
    from .snapshot import Base


class History:
    """Parallel per-change lists plus indexes; see the module docstring."""

    __slots__ = (
        "_clocks",
        "_heads",
        "actor",
        "base",
        "by_actor",
        "deps",
        "hashes",
        "index",
        "n_ops",
        "raw",
        "start",
    )

    def __init__(self) -> None:
        self.hashes: list[bytes] = []  # change number -> hash
        self.raw: list[bytes] = []  # change number -> encoded bytes
        self.actor: list[bytes] = []  # change number -> author
        self.start: list[int] = []  # change number -> start_op
        self.n_ops: list[int] = []  # change number -> counters consumed
        self.deps: list[tuple[int, ...]] = []  # change number -> numbers of its deps
        self.index: dict[bytes, int] = {}  # hash -> change number
        self.by_actor: dict[bytes, tuple[list[int], list[int]]] = {}
        # actor -> (start_ops of its changes in seq order, their change numbers)
        self._heads: set[int] = set()  # change numbers nothing depends on
        self.base: Base | None = None  # the snapshot cut this history starts after
        self._clocks: dict[int, dict[bytes, int]] = {}  # change number -> its clock (sparse)

    def __len__(self) -> int:
        return len(self.hashes)

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
        """Record an applied change whose deps are the change numbers ``dep_idx``."""
        hashes = self.hashes
        i = len(hashes)
        h = c.hash
        hashes.append(h)
        self.raw.append(c.raw)
        a = c.actor
        self.actor.append(a)
        self.start.append(c.start_op)
        self.n_ops.append(c.n_ops)
        self.deps.append(dep_idx)
        self.index[h] = i
        ba = self.by_actor.get(a)
        if ba is None:
            ba = self.by_actor[a] = ([], [])
        ba[0].append(c.start_op)
        ba[1].append(i)
        heads = self._heads
        if len(dep_idx) == 1 and dep_idx[0] in heads and len(heads) == 1:
            heads.clear()
        else:
            for d in dep_idx:
                heads.discard(d)
        heads.add(i)
        return i

    def truncate(self, n: int) -> None:
        """Forget changes numbered ``n`` and above (undoing a failed batch).  O(removed)."""
        while len(self.hashes) > n:
            i = len(self.hashes) - 1
            h = self.hashes.pop()
            self.raw.pop()
            a = self.actor.pop()
            self.start.pop()
            self.n_ops.pop()
            self.deps.pop()
            del self.index[h]
            ba = self.by_actor[a]
            ba[0].pop()
            ba[1].pop()
            if not ba[0]:
                del self.by_actor[a]
            self._heads.discard(i)
            self._clocks.pop(i, None)
        self._heads = self._recompute_heads()

    def _recompute_heads(self) -> set[int]:
        n = len(self.hashes)
        has_child = bytearray(n)
        for ds in self.deps:
            for d in ds:
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
            stack.extend(deps[i])
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
                stack.extend(deps[i])
        return seen
