"""Change hashes by number, and numbers by hash, in a few bytes per change.

A history with one change per keystroke holds hundreds of thousands of 32-byte hashes.  As
``bytes`` objects in a list with a ``dict`` from hash to number they cost ~150 bytes per
change (the object header, the dict entry, the boxed int); here they cost ~40:

* ``buf``: every hash back to back, change ``i`` at ``buf[32 * i : 32 * i + 32]``;
* ``keys``: a sorted ``array('Q')`` of ``prefix << 32 | i``, where ``prefix`` is the hash's
  first four bytes: a lookup bisects on the prefix and confirms the full hash in ``buf``;
* ``recent``: a plain dict for the changes added since the last merge into ``keys``, so
  adding stays O(1).  When it grows past a quarter of ``keys`` it is sorted into them
  (timsort merges the two sorted runs in linear time), which keeps the merges amortised
  O(1) per change and the dict small.

Equal prefixes are legal (a forged change can be ground to share one): the lookup scans
every key with the prefix and compares full hashes, so a collision costs time, never a
wrong answer.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left

HASH_LEN = 32
_LOW = 0xFFFFFFFF
_MIN_RECENT = 4096  # below this many recent hashes there is nothing worth merging


class HashIndex:
    """Change number -> hash and hash -> change number; see the module docstring."""

    __slots__ = ("buf", "keys", "limit", "recent")

    def __init__(self) -> None:
        self.buf = bytearray()  # hash of change i at [32 i, 32 i + 32)
        self.keys = array("Q")  # sorted prefix << 32 | i of the merged changes
        self.recent: dict[bytes, int] = {}  # hash -> i of the changes not merged yet
        self.limit = _MIN_RECENT  # merge when recent grows past this

    def __len__(self) -> int:
        return len(self.buf) // HASH_LEN

    def copy(self) -> HashIndex:
        """An independent copy.  O(n), in C."""
        new = HashIndex()
        new.buf = bytearray(self.buf)
        new.keys = array("Q", self.keys)
        new.recent = dict(self.recent)
        new.limit = self.limit
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
        """Record ``h`` as the next change number and return that number.  Amortised O(1)."""
        buf = self.buf
        i = len(buf) >> 5
        buf += h
        recent = self.recent
        recent[h] = i
        if len(recent) > self.limit:
            self.merge()
        return i

    def merge(self) -> None:
        """Sort the recent hashes into ``keys``.  O(n) (two sorted runs)."""
        new = [int.from_bytes(h[:4], "big") << 32 | i for h, i in self.recent.items()]
        new.sort()
        merged = self.keys.tolist()
        merged += new
        merged.sort()  # two sorted runs: a linear merge
        self.keys = array("Q", merged)
        self.recent = {}
        self.limit = max(_MIN_RECENT, len(merged) >> 2)

    def get(self, h: bytes) -> int | None:
        """The change number of hash ``h``, or None.  O(1) for recent changes, else
        O(log n)."""
        i = self.recent.get(h)
        if i is not None:
            return i
        if len(h) != HASH_LEN:
            return None
        keys = self.keys
        prefix = int.from_bytes(h[:4], "big")
        k = bisect_left(keys, prefix << 32)
        n = len(keys)
        buf = self.buf
        while k < n:
            key = keys[k]
            if key >> 32 != prefix:
                return None
            j = key & _LOW
            p = j * HASH_LEN
            if buf[p : p + HASH_LEN] == h:
                return j
            k += 1
        return None

    def __contains__(self, h: object) -> bool:
        return type(h) is bytes and self.get(h) is not None

    def truncate(self, n: int) -> None:
        """Forget change numbers ``n`` and above.  O(n) if merged keys are affected."""
        if n >= len(self):
            return
        del self.buf[n * HASH_LEN :]
        self.recent = {h: i for h, i in self.recent.items() if i < n}
        self.limit = max(_MIN_RECENT, len(self.keys) >> 2)
        keys = self.keys
        if keys and any(k & _LOW >= n for k in keys):
            self.keys = array("Q", [k for k in keys if k & _LOW < n])

    def _check(self) -> None:
        """Assert every invariant (tests call this)."""
        n = len(self)
        assert len(self.buf) == n * HASH_LEN
        keys = self.keys
        assert all(keys[k] <= keys[k + 1] for k in range(len(keys) - 1))
        seen = {k & _LOW for k in keys}
        assert len(seen) == len(keys)
        assert seen.isdisjoint(self.recent.values())
        assert len(seen) + len(self.recent) == n
        for k in keys:
            i = k & _LOW
            assert k >> 32 == int.from_bytes(self.hash_at(i)[:4], "big")
        for h, i in self.recent.items():
            assert self.hash_at(i) == h
