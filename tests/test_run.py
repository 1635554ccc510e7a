"""The run law: splitting a run anywhere and appending the halves gives the run back.

Every expectation is derived from the plain ``str``/``list`` content the run was built
from, never from the run's own methods.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt.run import Register, Run

ACTOR = b"\x11" * 16
OTHER = b"\x22" * 16

TEXT_CONTENTS = ["a", "ab", "abc", "hello", "h\u00e9llo \U0001f44b w\u00f6rld", "x" * 70]
LIST_CONTENTS = [[1], [1, "two"], [None, True, 2.5, b"\x00", "s"], list(range(40))]
ALL_CONTENTS = TEXT_CONTENTS + LIST_CONTENTS


def _copy(content):
    return content if isinstance(content, str) else list(content)


def _snapshot(run: Run):
    return (run.ctr, run.actor, run.n, _copy(run.content), run.deleted, run.reg, run.chunk)


@pytest.mark.parametrize("deleted", [False, True])
@pytest.mark.parametrize("ctr", [1, 7, 2**40])
@pytest.mark.parametrize("content", ALL_CONTENTS, ids=repr)
def test_split_every_offset_then_append_restores(content, ctr, deleted):
    chunk_marker = object()  # split must carry the chunk back-pointer over unchanged
    n = len(content)
    for off in range(1, n):
        left = Run(ctr, ACTOR, _copy(content), deleted, chunk_marker)  # type: ignore[arg-type]
        assert left.n == n and left.end == ctr + n
        original = _snapshot(left)
        right = left.split(off)

        # contents: the halves partition the original
        assert left.content + right.content == content
        assert left.content == content[:off]
        assert right.content == content[off:]
        assert left.n == off == len(left.content)
        assert right.n == n - off == len(right.content)
        assert type(left.content) is type(content) is type(right.content)

        # ids continue: the right half starts where the left one ends
        assert left.ctr == ctr
        assert right.ctr == left.ctr + off == left.end
        assert right.end == ctr + n
        assert right.actor == left.actor == ACTOR
        assert right.deleted is deleted and left.deleted is deleted
        assert not right.reg
        assert right.chunk is chunk_marker

        # visibility follows the flag
        assert left.visible_len() == (0 if deleted else off)
        assert right.visible_len() == (0 if deleted else n - off)

        # the halves continue each other (and not the other way round)
        assert left.can_append(right) is True
        assert right.can_append(left) is False

        left.append(right)
        assert _snapshot(left) == original


@pytest.mark.parametrize("content", ALL_CONTENTS, ids=repr)
def test_split_is_repeatable_into_single_elements(content):
    """Split a run into n one-element runs, then glue them back left to right."""
    run = Run(5, ACTOR, _copy(content), False, None)
    pieces = [run]
    while pieces[-1].n > 1:
        pieces.append(pieces[-1].split(1))
    assert [p.ctr for p in pieces] == list(range(5, 5 + len(content)))
    assert [p.content for p in pieces] == [content[i : i + 1] for i in range(len(content))]
    whole = pieces[0]
    for p in pieces[1:]:
        assert whole.can_append(p)
        whole.append(p)
    assert whole.content == content and whole.n == len(content) and whole.ctr == 5


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    content=st.one_of(
        st.text(min_size=2, max_size=30),
        st.lists(st.one_of(st.integers(), st.text(max_size=3), st.none()), min_size=2, max_size=30),
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=29), max_size=6),
    ctr=st.integers(min_value=1, max_value=2**62),
)
def test_split_at_many_offsets_and_rejoin(content, cuts, ctr):
    """Split at several offsets (in any order), rejoin in document order."""
    pieces = [Run(ctr, ACTOR, _copy(content), False, None)]
    for cut in cuts:
        # cut at absolute offset ``cut`` if it falls strictly inside some piece
        for i, p in enumerate(pieces):
            rel = ctr + cut - p.ctr
            if 0 < rel < p.n:
                pieces.insert(i + 1, p.split(rel))
                break
    joined = pieces[0].content
    for a, b in itertools.pairwise(pieces):
        assert b.ctr == a.ctr + a.n
        joined = joined + b.content
    assert joined == content
    whole = pieces[0]
    for p in pieces[1:]:
        assert whole.can_append(p)
        whole.append(p)
    assert (whole.ctr, whole.n, whole.content) == (ctr, len(content), content)


# ---------------------------------------------------------------- can_append is False


def test_can_append_false_across_actors():
    a = Run(1, ACTOR, "abc", False, None)
    b = Run(4, OTHER, "def", False, None)
    assert a.can_append(b) is False
    # same counters, only the actor differs by one byte
    c = Run(4, ACTOR[:-1] + b"\x12", "def", False, None)
    assert a.can_append(c) is False


@pytest.mark.parametrize("next_ctr", [5, 6, 100, 3, 2, 1])
def test_can_append_false_across_gaps_and_overlaps(next_ctr):
    a = Run(1, ACTOR, "abc", False, None)  # holds counters 1..3
    b = Run(next_ctr, ACTOR, "xyz", False, None)
    assert a.can_append(b) is False


def test_can_append_true_only_for_exact_continuation():
    a = Run(1, ACTOR, [1, 2, 3], False, None)
    assert a.can_append(Run(4, ACTOR, [9], False, None)) is True


@pytest.mark.parametrize(("left_deleted", "right_deleted"), [(False, True), (True, False)])
def test_can_append_false_across_deleted_flag(left_deleted, right_deleted):
    a = Run(1, ACTOR, "abc", left_deleted, None)
    b = Run(4, ACTOR, "def", right_deleted, None)
    assert a.can_append(b) is False


def test_can_append_true_for_two_tombstone_runs():
    a = Run(1, ACTOR, "abc", True, None)
    b = Run(4, ACTOR, "def", True, None)
    assert a.can_append(b) is True


@pytest.mark.parametrize("which", ["left", "right", "both"])
def test_can_append_false_for_registers(which):
    a = Run(1, ACTOR, [Register([(1, ACTOR, "v")])] if which != "right" else ["v"], False, None)
    b = Run(2, ACTOR, [Register([(2, ACTOR, "w")])] if which != "left" else ["w"], False, None)
    if which in ("left", "both"):
        a.reg = True
    if which in ("right", "both"):
        b.reg = True
    assert a.can_append(b) is False


def test_register_winner_is_last_entry():
    r = Register([(1, ACTOR, "old"), (3, OTHER, "new")])
    assert r.winner() == "new"


@pytest.mark.parametrize("ctr", [1, 7, 2**40])
@pytest.mark.parametrize("content", [c for c in ALL_CONTENTS if len(c) > 1], ids=repr)
@pytest.mark.parametrize("k", [1, 3])
def test_give_last_is_a_split_then_an_append(content, ctr, k):
    """A backspace: the last element of a live run joins the tombstone run of ``k``
    elements after it.  The result equals splitting the last element off, deleting it and
    appending the tombstones to it, as the contents it was built from say."""
    after = "zyx"[:k] if isinstance(content, str) else [None, 2, "w"][:k]
    n = len(content)
    marker = object()
    left = Run(ctr, ACTOR, _copy(content), False, marker)  # type: ignore[arg-type]
    right = Run(ctr + n, ACTOR, _copy(after), True, marker)  # type: ignore[arg-type]
    left.give_last(right)
    # by the contents alone
    assert left.content == content[:-1] and left.n == n - 1 == len(left.content)
    assert right.content == content[-1:] + after and right.n == len(after) + 1
    assert left.ctr == ctr and right.ctr == ctr + n - 1 == left.end
    assert right.end == ctr + n + len(after)
    assert not left.deleted and right.deleted and right.chunk is marker
    # and by split, delete, append
    l2 = Run(ctr, ACTOR, _copy(content), False, marker)  # type: ignore[arg-type]
    r2 = Run(ctr + n, ACTOR, _copy(after), True, marker)  # type: ignore[arg-type]
    piece = l2.split(n - 1)
    piece.deleted = True
    assert piece.can_append(r2)
    piece.append(r2)
    assert _snapshot(left) == _snapshot(l2)
    assert _snapshot(right) == _snapshot(piece)


@pytest.mark.parametrize("ctr", [1, 7, 2**40])
@pytest.mark.parametrize("content", [c for c in ALL_CONTENTS if len(c) > 1], ids=repr)
@pytest.mark.parametrize("k", [1, 3])
def test_take_first_is_a_split_then_an_append(content, ctr, k):
    """A forward delete: the first element of a live run joins the tombstone run of ``k``
    elements before it.  The result equals splitting the first element off, deleting it
    and appending it to the tombstones, as the contents it was built from say."""
    before = "zyx"[:k] if isinstance(content, str) else [None, 2, "w"][:k]
    n = len(content)
    marker = object()
    left = Run(ctr, ACTOR, _copy(before), True, marker)  # type: ignore[arg-type]
    right = Run(ctr + k, ACTOR, _copy(content), False, marker)  # type: ignore[arg-type]
    left.take_first(right)
    # by the contents alone
    assert left.content == before + content[:1] and left.n == k + 1 == len(left.content)
    assert right.content == content[1:] and right.n == n - 1 == len(right.content)
    assert left.ctr == ctr and right.ctr == ctr + k + 1 == left.end
    assert right.end == ctr + k + n
    assert left.deleted and not right.deleted and left.chunk is marker
    # and by split, delete, append
    l2 = Run(ctr, ACTOR, _copy(before), True, marker)  # type: ignore[arg-type]
    r2 = Run(ctr + k, ACTOR, _copy(content), False, marker)  # type: ignore[arg-type]
    rest = r2.split(1)
    r2.deleted = True
    assert l2.can_append(r2)
    l2.append(r2)
    assert _snapshot(left) == _snapshot(l2)
    assert _snapshot(right) == _snapshot(rest)
