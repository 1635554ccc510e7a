"""Mutation check of the fill: every check and step of ``crdt/fill.py`` must be needed.

    python tests/fill_mutants.py         # ~3 min
    python tests/fill_mutants.py _bounds # only the mutants of lines holding "_bounds"

Each mutant weakens one check or bends one step of the fill; the tests of
``tests/test_fill.py`` (the fill against the general path, on random changes and on every
kind of invalid op) must then fail.  Not listed, as equivalent: ``FILL_MIN``, a tuning
constant the tests read, and the shortcut for an insert with nothing hanging off it and
nothing removed, which the general branch after it also handles.  Not collected by pytest.
"""

from __future__ import annotations

import sys

from mutants import ROOT, run  # (tests/ is on sys.path when this file runs)

TARGET = ROOT / "crdt" / "fill.py"
TESTS = ["tests/test_fill.py"]

MUTANTS = [
    # which sequences and ops a fill takes
    ("return not head.runs and head.next", "return head.next"),
    ("head.refs[0] == 1 and not seq._alias", "not seq._alias"),
    (" or (op[1] is not obj and op[1] != obj):", ":"),
    ("if type(x) is not want:", "if False:"),
    # the checks of an insert's reference and of a remove's stretch
    ("if ra != actor or p < 0 or rc >= ends[p]:", "if p < 0 or rc >= ends[p]:"),
    ("if ra != actor or p < 0 or rc >= ends[p]:", "if ra != actor or p < 0:"),
    ("if end > ctr:", "if end > ctr + 1:"),
    ("if ea != actor or p < 0 or ec >= ends[p]:", "if ea != actor or p < 0:"),
    ("if ea != actor or p < 0 or ec >= ends[p]:", "if p < 0 or ec >= ends[p]:"),
    ("if p == len(starts) or starts[p] != e:", "if p == len(starts):"),
    ("                lo = e\n", "                lo = e + 1\n"),
    ("if e >= end:", "if e > end:"),
    # the tree walk
    ("kids[p] = [(rc - starts[p], -r)]", "kids[p] = [(rc - starts[p], r)]"),
    ("att.append((rc - starts[p], -r))", "att.append((rc - starts[p], r))"),
    ("stack: list[Any] = roots[:]", "stack: list[Any] = roots[::-1]"),
    ("att.sort()", "att"),
    ("todo.reverse()", "todo"),
    ("if off >= prev:", "if off > prev:"),
    ("x if is_text else x[:], False, False)", "x, False, False)"),
    # the removed stretches
    ("if out and lo <= out[-1]:", "if out and lo < out[-1]:"),
    ("if hi > out[-1]:", "if True:"),
    ("if q & 1:  # removed", "if not q & 1:  # removed"),
    ("stop = b[q] if q < nb and b[q] < hi else hi", "stop = hi"),
    (
        "out.append((c + pos, actor, x[pos:stop], False, True))",
        "out.append((c + pos, actor, x[pos:stop], False, False))",
    ),
]


def main() -> int:
    only = sys.argv[1] if len(sys.argv) > 1 else ""  # (a part of the lines to mutate)
    # (two mutants make the tree walk loop: a minute is 20 times what the tests take)
    return run(TARGET, TESTS, MUTANTS, only, time_limit=60)


if __name__ == "__main__":
    sys.exit(main())
