"""Mutation check of loading a snapshot's sequences: every column check and every step of
a text built on first touch must be needed.

    python tests/snapshot_mutants.py          # ~3 min
    python tests/snapshot_mutants.py lengths  # only the mutants of lines holding "lengths"

Each mutant weakens one check of ``snapshot._load_runs``, bends a step of
``snapshot._text_runs``, or takes a lazy text's shortcut or class switch out of
``crdt/sequence.py``; the tests of ``tests/test_snapshot.py`` (each column rule broken
in turn, at its boundary where it has one; every first touch of every kind of load
against an eagerly built twin) must then fail.  Not listed, as equivalent: the garbage
collector's pause around a lazy text's build, which changes only the time it takes, and
the assertion after that build, which the checks at load keep from failing.  Not
collected by pytest.
"""

from __future__ import annotations

import sys

from mutants import ROOT, run  # (tests/ is on sys.path when this file runs)

SNAPSHOT = ROOT / "crdt" / "snapshot.py"
SEQUENCE = ROOT / "crdt" / "sequence.py"
TESTS = ["tests/test_snapshot.py"]

SNAPSHOT_MUTANTS = [
    # the columns' shape
    ("len(content) not in (5, 6):", "len(content) not in (5, 6, 7):"),
    ("type(regs) is list):", "type(regs) is list) and False:"),
    ("if len(deltas) != n:", "if len(deltas) > n:"),
    ("if not _INTS.issuperset(map(type, lengths)) or not", "if not"),
    ("not _INTS.issuperset(map(type, deltas)):", "False:"),
    ("if sum(counts) != n:", "if sum(counts) > n:"),
    # the tombstone column
    ("type(dead) is not list or not dead or", "type(dead) is not list or"),
    ("not _INTS.issuperset(map(type, dead)):", "False:"),
    ("if any(map(operator.ge, dead,", "if any(map(operator.gt, dead,"),
    ("if dead[0] < 0 or dead[-1] >= n:", "if dead[-1] >= n:"),
    ("if dead[0] < 0 or dead[-1] >= n:", "if dead[0] < 0 or dead[-1] > n:"),
    # the counters
    ("if min(lengths) < 1:", "if min(lengths) < 0:"),
    ("if min(ctrs) < 1:", "if min(ctrs) < 0:"),
    ("if max(ends) - 1 > INT64_MAX:", "if max(ends) - 2 > INT64_MAX:"),
    # each element id at most once
    ("_BAND = 1 << 64", "_BAND = 1 << 8"),
    (
        "if any(map(operator.gt, stops, itertools.islice(starts, 1, None))):",
        "if any(map(operator.gt, stops, itertools.islice(starts, 2, None))):",
    ),
    ("stops = map(operator.add, starts,", "stops = map(operator.add, keys,"),
    # registers, values
    ("if is_text or not 0 <= pos_int(i) < n:", "if not 0 <= pos_int(i) < n:"),
    ("if is_text or not 0 <= pos_int(i) < n:", "if is_text or not 0 <= pos_int(i) <= n:"),
    ("if not reg_at.keys().isdisjoint(dead):", "if False:"),
    ("live = sum(lengths) - sum(map(lengths.__getitem__, dead))", "live = sum(lengths)"),
    ("if type(values) is not str or len(values) != live:", "if type(values) is not str:"),
    ("if type(values) is not list or len(values) != live:", "if type(values) is not list:"),
    # a text's runs, built from checked columns
    ("            live[i] = 0\n", "            pass\n"),
    ("            flags[i] = True\n", "            pass\n"),
    ('        pieces[i] = "\\x00" * lengths[i]\n', "        pass\n"),
]

SEQUENCE_MUTANTS = [
    ("        if lazy is not None:\n            return lazy[0]\n", ""),
    (
        "        if self._lazy is not None:\n            new.load_runs_lazily(",
        "        if False:\n            new.load_runs_lazily(",
    ),
    ("c: Chunk | None = None if self._lazy is not None else self.head", "c = self.head"),
    (
        "        if self._lazy is not None:\n            assert self.vis == len(self._lazy[0])",
        "        if False:\n            assert self.vis == len(self._lazy[0])",
    ),
    # the hook's class: worn while lazy, taken off once built (else no specialised reads)
    ("        self.__class__ = _LazyText\n", ""),
    ("        self.__class__ = Sequence\n", ""),
]


def main() -> int:
    only = sys.argv[1] if len(sys.argv) > 1 else ""  # (a part of the lines to mutate)
    a = run(SNAPSHOT, TESTS, SNAPSHOT_MUTANTS, only, time_limit=120)
    b = run(SEQUENCE, TESTS, SEQUENCE_MUTANTS, only, time_limit=120)
    return a | b


if __name__ == "__main__":
    sys.exit(main())
