"""Mutation check of what an observer is told: every step that keeps a patch's path and
fields true must be needed.

    python tests/observer_mutants.py          # ~30 s
    python tests/observer_mutants.py paths    # only the mutants of lines holding "paths"

Each mutant leaves out one clear of the paths a call has found (``OpSet.paths``: after an
op on a map or a list in ``OpSet.apply``, after an observed backspace on a list in the
fast path, at the start of each observed call), or sets a field of a ``Patch`` wrong in
its own ``__init__``.  The tests of ``tests/test_doc.py`` (a text moved in a list between
two patches; a patch as a frozen value) must then fail.  Not listed, as equivalent:
``path_of`` taking the cache when no call collects patches, since only a call that
collects them asks for a path.  Not collected by pytest.
"""

# ruff: noqa: E501  (the mutants are lines of code, as they stand in the file)
from __future__ import annotations

import sys

from mutants import ROOT, run  # (tests/ is on sys.path when this file runs)

TESTS = ["tests/test_doc.py"]

PATHS = [
    (
        "            self.paths.clear()  # (an op on a map or a list may move or hide any object)\n",
        "            pass\n",
    ),
]
FAST_PATHS = [
    (
        "        opset.paths.clear()  # (as OpSet.apply: objects in a list move, or leave)\n",
        "        pass\n",
    ),
]
CALL_PATHS = [
    (
        "            self._opset.paths.clear()  # (local edits since the last call may have moved any)\n",
        "",
    ),
]
PATCH = [
    ("        _set_length(self, length)\n", "        _set_length(self, 1)\n"),
    ("        _set_conflict(self, conflict)\n", "        _set_conflict(self, False)\n"),
    ("        _set_value(self, value)\n", "        _set_value(self, None)\n"),
    ('_set_key = vars(Patch)["key"].__set__', '_set_key = vars(Patch)["path"].__set__'),
]


GROUPS = [
    (ROOT / "crdt" / "opset.py", PATHS),
    (ROOT / "crdt" / "fastpath.py", FAST_PATHS),
    (ROOT / "crdt" / "doc.py", CALL_PATHS),
    (ROOT / "crdt" / "patches.py", PATCH),
]


def main() -> int:
    only = sys.argv[1] if len(sys.argv) > 1 else ""  # (a part of the lines to mutate)
    return max([run(target, TESTS, mutants, only) for target, mutants in GROUPS])


if __name__ == "__main__":
    sys.exit(main())
