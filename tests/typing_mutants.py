"""Mutation check of the keystroke path: every check of it must be needed.

    python tests/typing_mutants.py    # ~8 min

Each mutant weakens one check of the keystroke path in ``Transaction.splice``
(crdt/transaction.py), of the position cache a backspace keeps (``Sequence.local_delete``,
crdt/sequence.py), or of the rule by which an INS grows (``op.extend_ins``); the tests of
``tests/test_typing.py`` (the path against the general one, byte for byte, with forks and
rollbacks), and for the last ``tests/test_seal.py`` too, must then fail.
Not collected by pytest.
"""

from __future__ import annotations

import sys

from mutants import ROOT, run  # (tests/ is on sys.path when this file runs)

TESTS = ["tests/test_typing.py"]

SPLICE = [
    ("if not delete and type(text) is str", "if type(text) is str"),
    ("                        index == rs + run.n\n", "                        True\n"),
    ("and run.ctr + run.n == ctr\n", "\n"),
    ("and run.actor == self.actor\n", "\n"),
    ("and c.refs[0] == 1  #", "and True  #"),
    ("                        c.vis += n\n", ""),
    ("                        seq.vis += n\n", ""),
    ("                        self.ctr = ctr + n\n", ""),
    ("                        run.extend(text)\n", ""),
    ("ops[-1] = (INS, obj, ref, s)", "ops[-1] = (INS, obj, (ctr - 1, run.actor), s)"),
    ("                            s += text\n", ""),
    (
        "ops.append((INS, obj, (ctr - 1, run.actor), text))",
        "ops.append((INS, obj, (ctr, run.actor), text))",
    ),
]

# the rule by which an INS grows (crdt/op.py), which the general path and join_ops use
OP_TESTS = ["tests/test_typing.py", "tests/test_seal.py"]
EXTEND_INS = [
    ("        x += content\n", ""),
    ("ops[-1] = (INS, last[1], last[2], x + content)", "ops[-1] = (INS, last[1], last[2], x)"),
    ("        ops[-1] = (INS, obj, ref, x)", "        ops[-1] = (INS, obj, None, x)"),
]

BACKSPACE = [
    ("if rc is not None and rc[0] is run:", "if rc is not None:"),
]


def main() -> int:
    only = sys.argv[1] if len(sys.argv) > 1 else ""  # (a part of the lines to mutate)
    bad = run(ROOT / "crdt" / "transaction.py", TESTS, SPLICE, only, time_limit=120)
    bad |= run(ROOT / "crdt" / "sequence.py", TESTS, BACKSPACE, only, time_limit=120)
    bad |= run(ROOT / "crdt" / "op.py", OP_TESTS, EXTEND_INS, only, time_limit=300)
    return bad


if __name__ == "__main__":
    sys.exit(main())
