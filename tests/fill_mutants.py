"""Mutation check of the fill: every check and step of ``crdt/fill.py`` must be needed.

    python tests/fill_mutants.py         # ~12 min
    python tests/fill_mutants.py _bounds # only the mutants of lines holding "_bounds"

Each mutant weakens one check or bends one step of the fill; the tests of
``tests/test_fill.py`` (the fill against the general path, on random changes and on every
kind of invalid op) and ``tests/test_fastpath.py`` (a text typed whole in one change,
filled by the fast path, valid and damaged in each field) must then fail.  Not listed, as
equivalent: ``FILL_MIN``, a tuning constant the tests read; the shortcut for an insert
with nothing hanging off it and nothing removed, which the general branch after it also
handles; and a remove's ``end > ctr``, which the test of the stretch also fails (no
element has a counter from ``ctr`` on) but only after walking every insert it covers: it
keeps a remove of a huge count from costing a walk of the whole text.  Not collected by
pytest.
"""

from __future__ import annotations

import sys

from mutants import ROOT, run  # (tests/ is on sys.path when this file runs)

TARGET = ROOT / "crdt" / "fill.py"
TESTS = ["tests/test_fill.py", "tests/test_fastpath.py"]

MUTANTS = [
    # which sequences and ops a fill takes
    ("return not head.runs and head.next", "return head.next"),
    ("head.refs[0] == 1 and not seq._alias", "not seq._alias"),
    ("if j - i < FILL_MIN:", "if j - i < 1:"),
    ("        if (op[0] != INS and op[0] != REM) or", "        if"),
    (
        "if (op[0] != INS and op[0] != REM) or op[1] != obj:",
        "if op[0] != INS and op[0] != REM:",
    ),
    ("        if o != obj:\n            return None\n", ""),
    ("            if type(x) is not want:\n                return None\n", ""),
    ("x = [decode_scalar(v) for v in x]", "pass"),
    # the checks of an insert's reference
    ("                if ri:\n                    return None\n", ""),
    ("if p < 0 or rc >= ends[p]:", "if rc >= ends[p]:"),
    ("if p < 0 or rc >= ends[p]:", "if p < 0:"),
    ("            ctr += len(x)\n", "            ctr += 1\n"),
    # the checks of a remove's stretch
    ("            if ei:\n                return None\n", ""),
    ("            if p < 0:\n", "            if False:\n"),
    ("if p == len(starts) or starts[p] != e:", "if p == len(starts):"),
    ("                lo = e\n", "                lo = e + 1\n"),
    ("if e >= end:", "if e > end:"),
    ("gone[p] = [(lo - s, (e if e < end else end) - s)]", "gone[p] = [(lo - s, e - s)]"),
    ("            ctr += x\n", "            ctr += 1\n"),
    # the tree walk
    ("kids[p] = [(rc - starts[p], -r)]", "kids[p] = [(rc - starts[p], r)]"),
    ("att.append((rc - starts[p], -r))", "att.append((rc - starts[p], r))"),
    ("stack: list[Any] = plan.roots[:]", "stack: list[Any] = plan.roots[::-1]"),
    ("                att.sort()", "                pass"),
    ("todo.reverse()", "todo"),
    ("if off >= prev:", "if off > prev:"),
    ("push((s, actor, x[: off + 1], False, False))", "push((s, actor, x[:off], False, False))"),
    ("elif g[0] == (0, len(x)):", "elif g[0][0] == 0:"),
    ("elif g[0] == (0, len(x)):", "elif g[0][1] == len(x):"),
    # an insert removed whole, with inserts hanging off it
    ("and b[0] == 0 and b[1] == len(x):", "and b[0] == 0 and b[1] >= len(x) - 1:"),
    ("and b[0] == 0 and b[1] == len(x):", "and b[1] == len(x):"),
    ("push((s, actor, x[: off + 1], False, True))", "push((s, actor, x[: off + 1], False, False))"),
    (
        "push((starts[k] + lo, actor, texts[k][lo:hi], False, True))",
        "push((starts[k] + lo, actor, texts[k][lo:hi], False, False))",
    ),
    # the removed stretches
    ("if out and lo <= out[-1]:", "if out and lo < out[-1]:"),
    ("if hi > out[-1]:", "if True:"),
    ("if q & 1:  # removed", "if not q & 1:  # removed"),
    ("stop = b[q] if q < nb and b[q] < hi else hi", "stop = hi"),
    (
        "out.append((c + pos, actor, x[pos:stop], False, True))",
        "out.append((c + pos, actor, x[pos:stop], False, False))",
    ),
    # a text's runs built on first touch: its visible text is the live runs' content
    ('text = "".join([r[2] for r in runs if not r[4]])', 'text = "".join([r[2] for r in runs])'),
    ("    if seq.is_text:\n        text", "    if not seq.is_text:\n        text"),
]


def main() -> int:
    only = sys.argv[1] if len(sys.argv) > 1 else ""  # (a part of the lines to mutate)
    # (two mutants make the tree walk loop: a minute is 20 times what the tests take)
    return run(TARGET, TESTS, MUTANTS, only, time_limit=60)


if __name__ == "__main__":
    sys.exit(main())
