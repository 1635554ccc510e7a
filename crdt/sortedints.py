"""A sorted set of ints in a two-level list: what the sequence's id index asks, no more.

Per actor, the id index keeps the first counters of that actor's runs and asks for the
greatest one at or below a counter (:meth:`SortedInts.floor`: which run holds this id).
``SortedList`` answered that with ``bisect_right`` and then a positional read, each of
which walks its positional index tree in Python (O(log n) steps): ~15% of applying a big
remote change.  Here the values sit in sorted sublists of at most ``2 * LOAD``, with the
sublists' maxima in a list of their own, so a lookup is two C bisects, and an insert a
bisect and a C ``list.insert`` into one sublist (the layout ``SortedList`` uses, without
its positional index).

>>> s = SortedInts([10, 20, 30])
>>> s.add(25); s.remove(10)
>>> s.floor(29), s.floor(19), list(s)
(25, None, [20, 25, 30])
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator

LOAD = 256
"""A sublist is split in two when it holds more than ``2 * LOAD`` values."""


class SortedInts:
    """Distinct ints in ascending order; see the module docstring."""

    __slots__ = ("lists", "maxes")

    def __init__(self, values: Iterable[int] = ()) -> None:
        vs = sorted(values)
        # sorted sublists, each non-empty, every value of one below every value of the next
        self.lists: list[list[int]] = [vs[i : i + LOAD] for i in range(0, len(vs), LOAD)]
        self.maxes: list[int] = [lst[-1] for lst in self.lists]  # the last of each sublist

    def __len__(self) -> int:
        return sum(map(len, self.lists))

    def __iter__(self) -> Iterator[int]:
        for lst in self.lists:
            yield from lst

    def copy(self) -> SortedInts:
        """An independent copy.  O(n), in C."""
        new = SortedInts.__new__(SortedInts)
        new.lists = [lst.copy() for lst in self.lists]
        new.maxes = self.maxes.copy()
        return new

    def add(self, v: int) -> None:
        """Insert ``v`` (not already present).  O(log n + LOAD), the latter a C memmove."""
        maxes = self.maxes
        k = bisect_right(maxes, v)
        if k == len(maxes):  # beyond every value: the last sublist (counters grow)
            if not maxes:
                self.lists.append([v])
                maxes.append(v)
                return
            k -= 1
            lst = self.lists[k]
            lst.append(v)
            maxes[k] = v
        else:
            lst = self.lists[k]
            insort(lst, v)
        if len(lst) > 2 * LOAD:
            self.lists.insert(k + 1, lst[LOAD:])
            del lst[LOAD:]
            maxes.insert(k, lst[-1])

    def remove(self, v: int) -> None:
        """Remove ``v``, which must be present.  O(log n + LOAD)."""
        maxes = self.maxes
        k = bisect_left(maxes, v)
        lst = self.lists[k] if k < len(maxes) else []
        i = bisect_left(lst, v)
        if i == len(lst) or lst[i] != v:
            raise ValueError(f"{v} is not in the set")
        del lst[i]
        if not lst:
            del self.lists[k]
            del maxes[k]
        elif i == len(lst):
            maxes[k] = lst[-1]

    def replace(self, old: int, new: int) -> None:
        """Put ``new`` where ``old`` (present) is; no value may lie between the two.
        O(log n): the order is unchanged, so nothing moves."""
        maxes = self.maxes
        k = bisect_left(maxes, old)
        lst = self.lists[k]
        i = bisect_left(lst, old)
        assert lst[i] == old
        lst[i] = new
        if i == len(lst) - 1:
            maxes[k] = new

    def floor(self, v: int) -> int | None:
        """The greatest value ``<= v``, or None.  O(log n), two C bisects."""
        maxes = self.maxes
        k = bisect_right(maxes, v)  # sublists before k hold only values <= v
        if k < len(maxes):
            lst = self.lists[k]
            i = bisect_right(lst, v)
            if i:
                return lst[i - 1]
        return maxes[k - 1] if k else None

    def _check(self) -> None:
        """Assert every structural invariant (tests call this)."""
        assert len(self.lists) == len(self.maxes)
        prev: int | None = None
        for lst, m in zip(self.lists, self.maxes, strict=True):
            assert lst and len(lst) <= 2 * LOAD and lst[-1] == m
            for x in lst:
                assert prev is None or prev < x
                prev = x
