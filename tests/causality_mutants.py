"""Mutation check of the causality check without a clock: every step of the covered
prefixes and of ``History.shown_past`` must be needed, and so must the prefix cut of
``History.clock``'s walk.

    python tests/causality_mutants.py         # ~10 min
    python tests/causality_mutants.py below   # only the mutants of lines holding "below"

Each mutant bends one step of ``crdt/history.py``: a prefix one too long, an op counted
below when it is not, the author's last change not asked about, the walk cut one change
too high, a merge of every head not told as one, the limit that keeps clocks for the
changes far from their prefix taken out.  The tests of ``tests/test_history.py`` (each
prefix against walking every ancestor, ``shown_past`` against the clock, a peer that went
away) and the rejections of ``tests/test_bad_input.py`` must then fail.  Not listed, as
equivalent: ``clock`` going on below a change made on everything before it (``c > i``),
which only walks further.  Not collected by pytest.
"""

# ruff: noqa: E501  (the mutants are lines of code, as they stand in the file)
from __future__ import annotations

import sys

from mutants import ROOT, run  # (tests/ is on sys.path when this file runs)

HISTORY = ROOT / "crdt" / "history.py"
TESTS = ["tests/test_history.py", "tests/test_bad_input.py", "tests/test_fastpath.py"]

MUTANTS = [
    # the covered prefix each change keeps
    (
        "covered.append(i + 1 if whole or cov == i else cov)",
        "covered.append(i + 1 if whole or cov >= i - 1 else cov)",
    ),
    (
        "                whole = all([d in heads for d in dep_idx])\n",
        "                pass\n",
    ),
    (
        "self.covered.extend(range(i0 + 1, i0 + n + 1))",
        "self.covered.extend(range(i0, i0 + n))",
    ),
    # shown_past
    (
        "        if own is not None and own[-1] >= below and own[-1] not in dep_idx:\n",
        "        if False:\n",
    ),
    (
        "            k = bisect_right(nums, below - 1)\n",
        "            k = bisect_right(nums, below)\n",
    ),
    (
        "                if fc < start[e] + n_ops[e]:\n",
        "                if fc <= start[e] + n_ops[e]:\n",
    ),
    (
        "            if not any(names[d] == fa and start[d] <= fc < start[d] + n_ops[d] for d in dep_idx):",
        "            if not any(start[d] <= fc < start[d] + n_ops[d] for d in dep_idx):",
    ),
    ("        if len(covered) - below > SHOWN_WITHIN:\n            return False\n", ""),
    # the walk of History.clock
    ("                floor = c\n", "                floor = c + 1\n"),
    (
        "                    s = bisect_right(nums, c - 1)\n",
        "                    s = bisect_right(nums, c)\n",
    ),
]


def main() -> int:
    only = sys.argv[1] if len(sys.argv) > 1 else ""  # (a part of the lines to mutate)
    return run(HISTORY, TESTS, MUTANTS, only, time_limit=300)


if __name__ == "__main__":
    sys.exit(main())
