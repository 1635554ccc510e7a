"""A run: consecutive sequence elements from one actor, stored as one object.

A run holds the elements with ids ``(ctr, actor) .. (ctr + n - 1, actor)``, each inserted
directly after the previous one, all with the same deleted flag.  Typing ``hello`` makes
one run of five; deleting its middle splits it into three.  :meth:`Run.can_append`,
:meth:`Run.append` and :meth:`Run.split` are the only places where runs merge and split
(the law test in ``tests/test_run.py`` splits every run at every offset), and
:meth:`Run.give_last` and :meth:`Run.take_first` the only places where an element moves
from one run to its neighbour (a backspace: the last element typed joins the tombstones
after it; a forward delete: the first element after tombstones joins them).

List elements whose value was later overwritten by a ``set`` op carry a register
(:class:`Register`) instead of a plain value; such an element always stands alone in a run
of length one (``reg`` is true) and never merges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sequence import Chunk


class Register:
    """The live value ops of one list element: ``[(ctr, actor, value), ...]`` ascending.

    The element is visible while at least one entry remains; the greatest entry is the
    visible value and the others are conflicts.
    """

    __slots__ = ("entries",)

    def __init__(self, entries: list[tuple[int, bytes, Any]]) -> None:
        self.entries = entries  # live value ops, sorted ascending by (ctr, actor)

    def winner(self) -> Any:
        return self.entries[-1][2]


class Run:
    """Consecutive elements ``(ctr..ctr+n-1, actor)``; see the module docstring."""

    __slots__ = ("actor", "chunk", "content", "ctr", "deleted", "n", "reg", "ri")

    def __init__(
        self, ctr: int, actor: bytes, content: Any, deleted: bool, chunk: Chunk | None
    ) -> None:
        self.ctr = ctr  # counter of the first element
        self.actor = actor  # the actor that inserted every element of the run
        self.n = len(content)  # number of elements, tombstones included
        self.content = content  # str (text) or list of values (list), len == n
        self.deleted = deleted  # all elements are tombstones (invisible)
        self.reg = False  # a single list element holding a Register
        self.chunk = chunk  # the chunk holding this run (back-pointer for id lookups)
        self.ri = 0  # where it was last seen in its chunk's runs (a hint: checked first)

    @property
    def end(self) -> int:
        """Counter one past the last element."""
        return self.ctr + self.n

    def can_append(self, other: Run) -> bool:
        """True if ``other`` continues this run: same actor and flag, the next counters."""
        return (
            other.actor == self.actor
            and self.ctr + self.n == other.ctr
            and other.deleted is self.deleted
            and not self.reg
            and not other.reg
        )

    def append(self, other: Run) -> None:
        """Absorb ``other`` (which must satisfy :meth:`can_append`)."""
        self.extend(other.content)

    def extend(self, content: Any) -> None:
        """Add elements with the next ids at the end (the run owns its content).

        While no fork shares the run's str, CPython resizes it (a ``realloc``, which mostly
        extends the block where it is) instead of copying it whole, since only a local
        holds it then; typing 300,000 characters this way measured linear (a list grows in
        place anyway)."""
        c = self.content
        self.content = None
        c += content
        self.content = c
        self.n += len(content)

    def split(self, off: int) -> Run:
        """Keep elements ``[0, off)`` here and return a new run with ``[off, n)``.

        ``0 < off < n``.  The new run shares this run's chunk; the caller places it.
        """
        content = self.content
        right = Run(self.ctr + off, self.actor, content[off:], self.deleted, self.chunk)
        self.content = content[:off]
        self.n = off
        return right

    def give_last(self, right: Run) -> None:
        """Move the last element to the front of ``right``, which continues this run (same
        actor and kind, the next counters) but for its deleted flag: what a split before
        the last element and an append of ``right`` to that piece would give, with one run
        fewer to make and drop.  ``n > 1``; the caller moves ``right``'s start in the id
        index."""
        content = self.content
        right.content = content[-1:] + right.content
        self.content = content[:-1]
        self.n -= 1
        right.ctr -= 1
        right.n += 1

    def take_first(self, right: Run) -> None:
        """Move ``right``'s first element to the end of this run, which it continues (same
        actor and kind, the next counters) but for its deleted flag: what a split after
        that element and an append of the piece to this run would give, with one run fewer
        to make and drop.  ``right.n > 1``; the caller moves ``right``'s start in the id
        index."""
        content = right.content
        self.extend(content[:1])
        right.content = content[1:]
        right.ctr += 1
        right.n -= 1

    def visible_len(self) -> int:
        return 0 if self.deleted else self.n

    def __repr__(self) -> str:
        flag = "x" if self.deleted else ""
        return f"Run({self.ctr}@{self.actor.hex()[:6]}{flag} {self.content!r})"
