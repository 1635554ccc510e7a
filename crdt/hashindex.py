"""Change hashes by number, and numbers by hash, in a few bytes per change.

A history with one change per keystroke holds hundreds of thousands of 32-byte hashes.  As
``bytes`` objects in a list with a ``dict`` from hash to number they cost ~150 bytes per
change (the object header, the dict entry, the boxed int); here they cost 40 to 64:

* ``buf``: every hash back to back, change ``i`` at ``buf[32 * i : 32 * i + 32]``;
* ``table``: an open-addressing hash table in an ``array('I')`` (linear probing, between
  1/8 and 1/2 full): a slot holds ``i + 1``, 0 when empty; a lookup starts at the slot the
  ``hash()`` of the change's hash picks and confirms each candidate against ``buf``.

The table is filled lazily: :meth:`HashIndex.append` only adds the hash to ``buf``.  Up to
``_TAIL`` hashes may wait there: a lookup searches their bytes with one ``find`` before it
probes the table.  The first lookup after more appends puts the new hashes into the table in
one loop.  Local typing
and a linear remote history never look a hash up (the document's heads are kept apart), so
they pay ~0.1 us per change here instead of ~1.5 us; a peer that looks hashes up pays the
same table inserts as before, batched.

Why ``hash()``: CPython's hash of ``bytes`` is SipHash with a per-process random key, the
same defence its dicts have against flooding.  A forger who grinds change hashes to share a
prefix (cheap for any fixed prefix length) cannot aim them at one slot, so no input makes
lookups slow.  The table is rebuilt, four times larger, when it gets half full (amortised
O(1) per change: a third of a pass over ``buf`` per change added), and after unpickling,
since the hash key differs between processes.  This replaced sorted arrays merged with a
dict of recent hashes, whose merges cost 2 us per change (a third of the history's upkeep
with one change per keystroke) and whose dict held up to a quarter of the hashes as
objects.
"""

from __future__ import annotations

from array import array
from typing import Any

HASH_LEN = 32
_TOMB = 0xFFFFFFFF  # a slot whose change was truncated away: probes go on past it
_MIN_SLOTS = 64  # a power of 2
_TAIL = 64  # hashes that may wait outside the table: a lookup searches them in ``buf``


class HashIndex:
    """Change number -> hash and hash -> change number; see the module docstring."""

    __slots__ = ("buf", "indexed", "mask", "table", "used")

    def __init__(self) -> None:
        self.buf = bytearray()  # hash of change i at [32 i, 32 i + 32)
        self.table = array("I", bytes(4 * _MIN_SLOTS))  # slots, see the module docstring
        self.mask = _MIN_SLOTS - 1  # len(table) - 1
        self.used = 0  # slots not empty (entries and tombstones)
        self.indexed = 0  # changes 0 .. indexed - 1 are in the table; later ones wait

    def __len__(self) -> int:
        return len(self.buf) // HASH_LEN

    def __reduce__(self) -> tuple[Any, ...]:
        # hash() differs between processes: only the hashes travel, the table is rebuilt
        return (_from_hashes, (bytes(self.buf),))

    def copy(self) -> HashIndex:
        """An independent copy.  O(n), in C."""
        new = HashIndex.__new__(HashIndex)
        new.buf = bytearray(self.buf)
        new.table = array("I", self.table)
        new.mask = self.mask
        new.used = self.used
        new.indexed = self.indexed
        return new

    def hash_at(self, i: int) -> bytes:
        """The hash of change number ``i``.  O(1)."""
        p = i * HASH_LEN
        return bytes(self.buf[p : p + HASH_LEN])

    def all(self) -> list[bytes]:
        """Every hash in change-number order.  O(n)."""
        b = bytes(self.buf)
        return [b[p : p + HASH_LEN] for p in range(0, len(b), HASH_LEN)]

    def append(self, h: bytes) -> int:
        """Record ``h`` (a new hash) as the next change number and return that number.
        O(1); the table takes it in at the next lookup."""
        buf = self.buf
        i = len(buf) >> 5
        buf += h
        return i

    def _catch_up(self) -> None:
        """Put the hashes appended since the last lookup into the table.  Amortised O(1)
        per hash."""
        n = len(self.buf) >> 5
        i = self.indexed
        t = self.table
        if (self.used + n - i) << 1 > len(t):
            slots = len(t) << 2
            while n << 1 > slots:
                slots <<= 2
            self._rebuild(slots)  # takes them all in
            return
        _fill(t, self.mask, bytes(self.buf[i * HASH_LEN :]), i)
        self.used += n - i
        self.indexed = n

    def _rebuild(self, slots: int) -> None:
        """Fill a fresh table of ``slots`` slots from ``buf`` (drops tombstones).  O(n)."""
        while slots > _MIN_SLOTS and len(self) << 3 < slots:
            slots >>= 1  # after a big truncation
        t = array("I", bytes(4 * slots))
        mask = slots - 1
        _fill(t, mask, bytes(self.buf), 0)
        self.table = t
        self.mask = mask
        self.used = self.indexed = len(self)

    def get(self, h: bytes) -> int | None:
        """The change number of hash ``h``, or None.  O(1) expected."""
        if type(h) is not bytes or len(h) != HASH_LEN:
            return None
        buf = self.buf
        i = self.indexed
        if i != len(buf) >> 5:
            if (len(buf) >> 5) - i > _TAIL:
                self._catch_up()
            else:
                # a few hashes wait: one search of their bytes in C, and the table for the
                # rest (a peer's deps are mostly changes just added, and a catch-up per
                # lookup of one or two hashes cost 3% of a concurrent history's merge)
                p = buf.find(h, i << 5)
                while p >= 0:
                    if not p & 31:  # (only a match at a hash's start counts)
                        return p >> 5
                    p = buf.find(h, p + 1)
        mask = self.mask
        t = self.table
        s = hash(h) & mask
        e = t[s]
        while e:
            if e != _TOMB:
                p = (e - 1) * HASH_LEN
                if buf[p : p + HASH_LEN] == h:
                    return e - 1
            s = (s + 1) & mask
            e = t[s]
        return None

    def __contains__(self, h: object) -> bool:
        return type(h) is bytes and self.get(h) is not None

    def truncate(self, n: int) -> None:
        """Forget change numbers ``n`` and above.  O(removed), or O(n) when it shrinks the
        table."""
        if n >= len(self):
            return
        t = self.table
        mask = self.mask
        b = self.buf
        for i in range(n, self.indexed):
            s = hash(bytes(b[i * HASH_LEN : i * HASH_LEN + HASH_LEN])) & mask
            while t[s] != i + 1:
                s = (s + 1) & mask
            t[s] = _TOMB  # stays "used": the probe chains through it must not break
        del b[n * HASH_LEN :]
        if n < self.indexed:
            self.indexed = n
        if n << 4 < len(t) > _MIN_SLOTS:
            self._rebuild(len(t))  # mostly empty now: shrink

    def _check(self) -> None:
        """Assert every invariant (tests call this), then catch the table up and again."""
        for _ in range(2):
            n = len(self)
            assert len(self.buf) == n * HASH_LEN and 0 <= self.indexed <= n
            t = self.table
            assert len(t) == self.mask + 1 and not len(t) & self.mask  # a power of 2
            assert self.used << 1 <= len(t)
            assert self.used == sum(1 for e in t if e)
            live = sorted(e - 1 for e in t if e and e != _TOMB)
            assert live == list(range(self.indexed))
            self._catch_up()
        for i in range(n):
            h = self.hash_at(i)
            assert self.get(h) == i


def _fill(t: array[int], mask: int, hashes: bytes, first: int) -> None:
    """Put the hashes back to back in ``hashes`` (change numbers ``first`` on) into the
    table ``t``, which has room: one probe per hash when it is at most half full."""
    e = first
    for p in range(0, len(hashes), HASH_LEN):
        e += 1
        s = hash(hashes[p : p + HASH_LEN]) & mask
        while t[s]:
            s = (s + 1) & mask
        t[s] = e


def _from_hashes(buf: bytes) -> HashIndex:
    idx = HashIndex()
    idx.buf = bytearray(buf)
    slots = _MIN_SLOTS
    while slots < len(idx) << 2:
        slots <<= 1
    idx._rebuild(slots)
    return idx
