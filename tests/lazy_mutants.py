"""Mutation check of the question a lazily loaded document asks of each change the general
path takes: does it reach behind the checkpoint (``Doc._reaches_before_cut``)?

    python tests/lazy_mutants.py    # ~15 s

Each mutant never asks, or answers one case wrong: a checkpoint head taken for a new
change, a change on some of the checkpoint's heads only taken as a descendant, a dep from
before the checkpoint taken as known, a dep of this call or of the history taken as
unknown (which decodes the history for nothing).  The tests of ``tests/test_saved.py``
(a lazy load against a verified one, changes in and out of order, on and behind the
checkpoint) must then fail.  Not collected by pytest.
"""

from __future__ import annotations

import sys

from mutants import ROOT, run  # (tests/ is on sys.path when this file runs)

TESTS = ["tests/test_saved.py"]

MUTANTS = [
    (
        "                if deferred and self._reaches_before_cut(u.hash, u.deps, batch):",
        "                if False:",
    ),
    ("        if hsh in cut.heads:\n            return False\n        index", "        index"),
    ("        return not later and named != len(cut.heads)", "        return False"),
    (
        "            else:\n                return True\n        return not later",
        "            else:\n                later = True\n        return not later",
    ),
    ("            elif d in index or d in call:", "            elif d in index:"),
    ("            elif d in index or d in call:", "            elif d in call:"),
]


def main() -> int:
    only = sys.argv[1] if len(sys.argv) > 1 else ""  # (a part of the lines to mutate)
    return run(ROOT / "crdt" / "doc.py", TESTS, MUTANTS, only)


if __name__ == "__main__":
    sys.exit(main())
