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

import zlib
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from collections.abc import Sequence as SeqABC
from typing import TYPE_CHECKING

from .change import Change
from .hashindex import HashIndex

if TYPE_CHECKING:
    from .snapshot import Base


NO_DEP = -1
MANY_DEPS = -2
FULL = 0xFFFF  # _RawStore: the change is kept whole
BLOCK = 1024  # _RawStore: changes per compressed block (a power of 2)
CLOCK_EVERY = 64  # cache the clock of every 64th change made on the heads (a power of 2)


def _sizes() -> bytes:
    """Byte length of a msgpack uint, nil or fixstr by its first byte (0: other types)."""
    t = bytearray(256)
    for b in range(0x80):
        t[b] = 1  # positive fixint
    t[0xC0] = 1  # nil
    for b, n in ((0xCC, 2), (0xCD, 3), (0xCE, 5), (0xCF, 9)):
        t[b] = n  # uint 8/16/32/64
    for b in range(0xA0, 0xC0):
        t[b] = 1 + (b & 0x1F)  # fixstr
    return bytes(t)


_SIZE = _sizes()


class _RawStore:
    """The encoded changes, without the two fields History already holds, compressed.

    A change's bytes are ``99 01 <actor> <seq start_op time message> <deps> <table ops>``;
    the author (16+ bytes) and the dep hashes (34 bytes each) are most of a small change, and
    History keeps both anyway.  So each change is stored as the middle and the tail only,
    and :meth:`get` splices the author and deps back in, byte for byte.

    Changes are kept whole in ``recent`` until ``BLOCK`` of them have arrived; the block is
    then cut and zlib-compressed in one loop (level 1: ~0.2 us per change), and the last
    block read is kept inflated.  Appending is a list append: with one change per keystroke
    the per-change work of cutting and offsetting, done one change at a time, cost ~2.5 us.
    Histories are read in order (sync, save) or near their end (recent changes), so a read
    rarely inflates more than once per block.  With one change per keystroke the paper
    trace's history takes ~2 MB this way instead of ~13 MB, and no buffer grows beyond a
    block (growing big buffers by realloc fragments the C heap).
    """

    __slots__ = ("_cache", "blocks", "mid", "off", "recent", "whole")

    def __init__(self) -> None:
        self.blocks: list[bytes] = []  # full blocks, zlib-compressed
        self.recent: list[bytes] = []  # the changes after the full blocks, whole (< BLOCK)
        self.off = array("q", [0])  # change number -> start of its piece (+ end), counted
        # over the pieces of the full blocks back to back (uncompressed)
        self.mid = array("H")  # change number -> length of its middle part, or FULL
        self.whole: set[int] = set()  # changes to keep whole: deps History does not hold
        self._cache: tuple[int, bytes] = (-1, b"")  # (block number, its inflated bytes)

    def __len__(self) -> int:
        return len(self.mid) + len(self.recent)

    def copy(self) -> _RawStore:
        new = _RawStore()
        new.blocks = self.blocks.copy()  # immutable bytes: shared
        new.recent = self.recent.copy()
        new.off = array("q", self.off)
        new.mid = array("H", self.mid)
        new.whole = set(self.whole)
        new._cache = self._cache
        return new

    def seal(self) -> None:
        """Cut the ``BLOCK`` changes in ``recent`` into pieces and compress them."""
        recent = self.recent
        assert len(recent) == BLOCK
        first = len(self.mid)
        whole = self.whole
        size = _SIZE
        pieces: list[bytes] = []
        add = pieces.append
        mids = self.mid
        off = self.off
        o = off[-1]
        for k, raw in enumerate(recent):
            mid = FULL
            if first + k not in whole:
                # the encoded seq, start_op, time and message, sized from their first bytes
                a_end = p = 4 + raw[3]
                p += size[raw[p]]
                p += size[raw[p]]
                p += size[raw[p]]
                n = size[raw[p]] or _str_size(raw, p)
                p += n
                h = raw[p]
                if h & 0xF0 == 0x90:  # deps: fixarray
                    q = p + 1 + 34 * (h & 0x0F)
                else:  # array16 (a change has fewer than 65,536 deps)
                    q = p + 3 + 34 * int.from_bytes(raw[p + 1 : p + 3], "big")
                mid = p - a_end
            if mid < FULL:  # (a middle too long for the table, a huge message, stays whole)
                add(raw[a_end:p])
                add(raw[q:])
                o += len(raw) - a_end - q + p
            else:
                mid = FULL
                add(raw)
                o += len(raw)
            mids.append(mid)
            off.append(o)
        self.blocks.append(zlib.compress(b"".join(pieces), 1))
        self.recent = []
        whole.difference_update(range(first, first + BLOCK))

    def reopen(self, b: int, raws: list[bytes]) -> None:
        """Drop the full blocks from number ``b`` on; ``raws`` are the changes of block
        ``b`` to keep (whole), which become ``recent``."""
        del self.blocks[b:]
        del self.mid[b * BLOCK :]
        del self.off[b * BLOCK + 1 :]
        self.recent = raws
        self._cache = (-1, b"")

    def _block(self, i: int) -> tuple[bytes, int]:
        """The inflated block holding change ``i``'s piece and the offset it starts at."""
        b = i // BLOCK
        cb, data = self._cache
        if cb != b:
            data = zlib.decompress(self.blocks[b])
            self._cache = (b, data)
        return data, self.off[b * BLOCK]

    def get(self, i: int, actor: bytes, deps: list[bytes]) -> bytes:
        k = i - len(self.mid)
        if k >= 0:
            return self.recent[k]
        data, start = self._block(i)
        s, e = self.off[i] - start, self.off[i + 1] - start
        m = self.mid[i]
        if m == FULL:
            return data[s:e]
        n = len(deps)
        head = bytes([0x90 | n]) if n < 16 else b"\xdc" + n.to_bytes(2, "big")
        return b"".join(
            (
                b"\x99\x01\xc4",
                bytes([len(actor)]),
                actor,
                data[s : s + m],
                head,
                *[b"\xc4\x20" + d for d in deps],
                data[s + m : e],
            )
        )


def _str_size(raw: bytes, p: int) -> int:
    """Byte length of the msgpack str8/16/32 at ``raw[p]`` (a message of 32+ bytes)."""
    b = raw[p]
    w = 1 if b == 0xD9 else 2 if b == 0xDA else 4
    assert 0xD9 <= b <= 0xDB
    return 1 + w + int.from_bytes(raw[p + 1 : p + 1 + w], "big")


class History:
    """Parallel per-change lists plus indexes; see the module docstring."""

    __slots__ = (
        "_actors",
        "_clocks",
        "_dep1",
        "_deps_many",
        "_heads",
        "_raw",
        "_whole",
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
        # change number -> 1 if it was made on all the heads of its time (every change
        # numbered below it is in its past, so its clock needs no walk)
        self._whole = bytearray()
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
        new._raw = self._raw.copy()
        new.actor = self.actor.copy()
        new._actors = dict(self._actors)
        new.start = array("q", self.start)
        new.n_ops = array("q", self.n_ops)
        new._dep1 = array("q", self._dep1)
        new._whole = bytearray(self._whole)
        new._deps_many = dict(self._deps_many)
        new.by_actor = {a: array("q", n) for a, n in self.by_actor.items()}
        new._heads = dict(self._heads)
        new.base = self.base
        new._clocks = dict(self._clocks)
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
        they are all the current heads (say False if unsure: it only saves work).  O(deps)."""
        h = c.hash
        i = self.index.append(h)
        a = c.actor
        a = self._actors.setdefault(a, a)
        start_op = c.start_op
        nd = len(dep_idx)
        raw = self._raw
        recent = raw.recent
        recent.append(c.raw)
        if nd != len(c.deps):
            raw.whole.add(i)  # deps History does not hold (a snapshot cut): keep the bytes
        if len(recent) == BLOCK:
            raw.seal()
        self.actor.append(a)
        self.start.append(start_op)
        self.n_ops.append(c.n_ops)
        heads = self._heads
        self._whole.append(whole)
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
        nums = self.by_actor.get(a)
        if nums is None:
            nums = self.by_actor[a] = array("q")
        nums.append(i)
        if whole and not i & (CLOCK_EVERY - 1):
            # a change made on the heads has everything in its past: its clock is the
            # document's; caching one in CLOCK_EVERY saves the per-actor bisects below
            self._clocks[i] = self._doc_clock()
        return i

    def truncate(self, n: int) -> None:
        """Forget changes numbered ``n`` and above (undoing a failed batch).  O(removed)."""
        if n >= len(self.actor):
            return
        raw = self._raw
        sealed = len(raw.mid)
        if n < sealed:  # reopen the block holding change n: its changes before n stay
            b = n // BLOCK
            raw.reopen(b, [self.raw_at(i) for i in range(b * BLOCK, n)])
        else:
            del raw.recent[n - sealed :]
        raw.whole.difference_update(range(n, len(self.actor)))
        self.index.truncate(n)
        while len(self.actor) > n:
            i = len(self.actor) - 1
            a = self.actor.pop()
            self.start.pop()
            self.n_ops.pop()
            self._dep1.pop()
            self._whole.pop()
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
        whole = self._whole
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
            if whole[i]:
                # everything numbered up to i is in its past: per actor, count those
                for a, nums in by_actor.items():
                    s = bisect_right(nums, i)
                    if s:
                        if base is not None:
                            s += base.clock.get(a, 0)
                        if s > clock.get(a, 0):
                            clock[a] = s
                continue
            a = actor[i]
            # seq of change i = its position in the actor's list + 1
            nums = by_actor[a]
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
