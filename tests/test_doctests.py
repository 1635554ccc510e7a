"""Every docstring example in the engine runs as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import crdt

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(crdt.__path__, "crdt.") if m.name != "crdt.__main__"
)


@pytest.mark.parametrize("name", ["crdt", *MODULES])
def test_docstring_examples(name: str) -> None:
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_some_examples_exist() -> None:
    n = 0
    for name in ["crdt", *MODULES]:
        finder = doctest.DocTestFinder()
        n += sum(len(t.examples) for t in finder.find(importlib.import_module(name)))
    assert n >= 10
