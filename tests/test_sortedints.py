"""SortedInts against a plain sorted list, with sublists small enough to split and empty."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crdt.sortedints as si
from crdt.sortedints import SortedInts


def _floor(model: list[int], v: int) -> int | None:
    i = bisect.bisect_right(model, v)
    return model[i - 1] if i else None


@pytest.mark.parametrize("load", [1, 2, 3, 256])
@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    start=st.sets(st.integers(-50, 400), max_size=60),
    steps=st.lists(st.tuples(st.booleans(), st.integers(-60, 460)), max_size=200),
)
def test_matches_a_sorted_list(load: int, start: set[int], steps: list[tuple[bool, int]]) -> None:
    old = si.LOAD
    si.LOAD = load
    try:
        s = SortedInts(start)
        model = sorted(start)
        for add, v in steps:
            if add and v not in model:
                s.add(v)
                bisect.insort(model, v)
            elif not add and v in model:
                s.remove(v)
                model.remove(v)
            s._check()
            assert list(s) == model and len(s) == len(model)
            for q in (v - 1, v, v + 1, -100, 500):
                assert s.floor(q) == _floor(model, q)
        c = s.copy()
        if model:
            s.remove(model[0])
            assert list(c) == model  # the copy is independent
    finally:
        si.LOAD = old


@pytest.mark.parametrize("v", [0, 3, 9])
def test_remove_of_an_absent_value_is_refused(v: int) -> None:
    s = SortedInts([1, 5])
    with pytest.raises(ValueError):
        s.remove(v)
    assert list(s) == [1, 5]


@pytest.mark.parametrize("load", [1, 2, 3, 256])
@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    start=st.sets(st.integers(-50, 400), min_size=1, max_size=60),
    picks=st.lists(st.integers(0, 10**6), max_size=80),
)
def test_replace_moves_a_value_down_into_the_gap_below_it(
    load: int, start: set[int], picks: list[int]
) -> None:
    """replace(v, v - 1), the id index's move of a run's start when a backspace gives the
    run an element, matches the sorted list it models, at sublist ends too."""
    old = si.LOAD
    si.LOAD = load
    try:
        s = SortedInts(start)
        model = sorted(start)
        for p in picks:
            movable = [v for v in model if v - 1 not in model]
            v = movable[p % len(movable)]  # (the smallest value is always movable)
            s.replace(v, v - 1)
            model[model.index(v)] = v - 1
            s._check()
            assert list(s) == model
            for q in (v - 2, v - 1, v, v + 1):
                assert s.floor(q) == _floor(model, q)
    finally:
        si.LOAD = old
