"""Mutation check of the keystroke path: every check of it must be needed.

    python tests/typing_mutants.py    # ~11 min

Each mutant weakens one check of the keystroke path in ``Transaction.splice``
(crdt/transaction.py), of the position cache a backspace keeps (``Sequence.local_delete``,
crdt/sequence.py), or of the rule by which an INS grows (``op.extend_ins``); the tests of
``tests/test_typing.py`` (the path against the general one, byte for byte, with forks and
rollbacks), and for the last ``tests/test_seal.py`` too, must then fail.  So too for the
deletes that keep typing cheap: the forward delete (``Sequence._forward_delete`` and
``Run.take_first``) and the position cache a general delete leaves, against
``tests/test_sequence.py`` and ``tests/test_run.py``; and for the tail a far jump may start
from and the position of a run, against ``tests/test_sequence.py`` and
``tests/test_fork.py``; and for the cursor a remote edit keeps, against those and
``tests/test_doc.py``; and for the position a peer's typing keeps for its patches, against
those and ``tests/test_fastpath.py``.
Not collected by pytest.
"""

# ruff: noqa: E501  (the mutants are lines of code, as they stand in the file)
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
    (
        "if rc is not None and rc[0] is run:  # (not if _own copied the runs)",
        "if rc is not None:  # (not if _own copied the runs)",
    ),
]

# the lookup by position from a chunk's end (Sequence._locate), the forward delete
# (Sequence._forward_delete), the position cache a general delete leaves, and the test
# before each _merge_left call of a delete (crdt/sequence.py).  Not listed, as
# equivalent: which end a lookup counts from (either finds the element), the forward
# delete's ``pv.deleted`` (a live run before that continued the run would have merged
# with it), and dropping the counters' test before _merge_left (the call tests them again)
DELETE_TESTS = ["tests/test_sequence.py", "tests/test_typing.py"]
DELETE = [
    # the lookup by position from the chunk's end
    ("                    if k <= n:\n", "                    if k < n:\n"),
    ("                        k = n - k\n", "                        k = n - k + 1\n"),
    ("if not ri or run.n < 2:", "if run.n < 2:"),
    ("if not ri or run.n < 2:", "if not ri:"),
    ("pv.ctr + pv.n == old and ", ""),
    ("and pv.actor == run.actor and not pv.reg", "and not pv.reg"),
    ("and pv.actor == run.actor and not pv.reg", "and pv.actor == run.actor"),
    ("ar.starts.replace(old, old + 1)", "pass"),
    ("ar.by_start[old + 1] = run", "pass"),
    ("self._rc = (run, chunk, ri, pos)", "self._rc = (run, chunk, ri, pos + 1)"),
    ("return [(run.ctr - 1, run.actor, 1)]", "return [(run.ctr, run.actor, 1)]"),
    ("lri = ri if off else ri - 1", "lri = ri"),
    ("lri = ri if off else ri - 1", "lri = ri - 1"),
    ("if lri >= 0:  #", "if True:  #"),
    ("self._rc = (left, first, lri, pos - left.n)", "self._rc = (left, first, lri, pos)"),
    ("            if not left.deleted:\n", "            if True:\n"),
    (
        "if ri and (left := runs[ri - 1]).ctr + left.n == run.ctr:",
        "if ri and (left := runs[ri - 1]).ctr + left.n == run.ctr + 1:",
    ),
    (
        "if ri < len(runs) and (left := runs[ri - 1]).ctr + left.n == runs[ri].ctr:",
        "if False:",
    ),
    # a peer's forward delete (Sequence.remote_forward)
    ("or chunk.refs[0] != 1 or run.deleted:", "or run.deleted:"),
    (
        "            return False\n        if chunk is not self._cur:\n            self._cur = None  # (its start may move: see the module docstring)\n        self._rc = self._ic = None\n        return True",
        "            return False\n        return True",
    ),
    (
        "docstring)\n        self._rc = self._ic = None\n        return True",
        "docstring)\n        return True",
    ),
]
# the far jump's start: the tail a split, a load and a copy keep, and the tail's position
# (crdt/sequence.py).  Not listed, as equivalent: which start a jump picks (from any chunk
# and its true position the walk finds the element), only how far it walks
FAR_TESTS = ["tests/test_sequence.py", "tests/test_fork.py"]
FAR_JUMP = [
    ("            self._tail = new\n", "            pass\n"),
    ("            s = self.vis - c.vis\n", "            s = self.vis - c.vis - 1\n"),
    ("        self._tail = c\n", "        pass\n"),
    ("        new._tail = prev\n", "        new._tail = self._tail\n"),
    # the position of a run (Sequence.index_of): the walk out both ways from its chunk, and
    # the count from the chunk's nearer end.  Not listed, as equivalent: which end of the
    # chunk it counts from (both give the position), only how far it counts
    (
        "                    pos = self.vis - after - target.vis\n",
        "                    pos = self.vis - after\n",
    ),
    ("                before += b.vis\n", ""),
    ("                after += f.vis\n", ""),
    ("            pos += target.vis\n", ""),
    ("            for r in runs[i:]:\n", "            for r in runs[i + 1 :]:\n"),
    ("            for r in runs[:i]:\n", "            for r in runs[: i + 1]:\n"),
    ("        if run.deleted:\n            return pos\n        self._rc", "        self._rc"),
]
# the cursor a remote edit keeps when it changes the cursor's chunk only, and that the
# position of a run moves (crdt/sequence.py).  Not listed, as equivalent: the test by which
# index_of takes the cursor's start (a walk finds the same start, only slower), and the
# reset in load_runs (it loads into an empty sequence, whose cursor, if any, is the head
# at 0, which stays right)
CURSOR_TESTS = ["tests/test_sequence.py", "tests/test_fork.py", "tests/test_doc.py"]
CURSOR = [
    (
        "        chunk = run.chunk\n        if chunk is not self._cur:\n            self._cur = None  # (its",
        "        chunk = run.chunk\n        if False:\n            self._cur = None  # (its",
    ),
    (
        "                    if chunk is not self._cur:\n                        self._cur = None",
        "                    if False:\n                        self._cur = None",
    ),
    (
        "            chunk = self._own(chunk)\n        if chunk is not self._cur:\n",
        "            chunk = self._own(chunk)\n        if False:\n",
    ),
    (
        "        if chunk is not self._cur:\n            self._cur = None  # (its start may move: see the module docstring)\n        self._rc = self._ic = None\n        return self._backspace",
        "        self._rc = self._ic = None\n        return self._backspace",
    ),
    (
        "            return False\n        if chunk is not self._cur:\n            self._cur = None  # (its start may move: see the module docstring)\n        self._rc = self._ic = None\n        return True",
        "            return False\n        self._rc = self._ic = None\n        return True",
    ),
    (
        "            run.deleted = True\n            if chunk is not self._cur:\n",
        "            run.deleted = True\n            if False:\n",
    ),
    (
        "            run.deleted = not visible\n            if chunk is not self._cur:\n",
        "            run.deleted = not visible\n            if False:\n",
    ),
    (
        "            self._cur_pos = pos\n            self._rc = None\n",
        "            self._cur_pos = pos\n",
    ),
    (
        "            self._cur_pos = pos\n            self._rc = None\n",
        "            self._cur_pos = pos + 1\n            self._rc = None\n",
    ),
]
# the run index_of last found, or _locate, whose position index_of then gives at once: it
# keeps while a peer's typing extends that run (crdt/sequence.py), against those tests and
# the observed fast path's patches (tests/test_fastpath.py)
POSITION_TESTS = [*CURSOR_TESTS, "tests/test_fastpath.py"]
POSITION = [
    ("            if rc is not None and rc[0] is not run:\n", "            if False:\n"),
    (
        "            self._cur = None  # (its start may move: see the module docstring)\n            self._rc = None\n        else:",
        "            self._cur = None  # (its start may move: see the module docstring)\n        else:",
    ),
    (
        "        if rc is not None and rc[0] is run:  # (never a tombstone run: see _check)",
        "        if rc is not None:  # (never a tombstone run: see _check)",
    ),
    ("            return rc[3] + off\n", "            return rc[3]\n"),
    ("        self._rc = (run, target, i, pos)", "        self._rc = (run, target, i, pos + 1)"),
]
# Run.take_first (crdt/run.py), against its law test
RUN_TESTS = ["tests/test_run.py", "tests/test_sequence.py"]
TAKE_FIRST = [
    ("        self.extend(content[:1])\n", ""),
    ("        right.content = content[1:]\n", ""),
    ("        right.ctr += 1\n", ""),
    ("        right.n -= 1\n", ""),
]


def main() -> int:
    only = sys.argv[1] if len(sys.argv) > 1 else ""  # (a part of the lines to mutate)
    bad = run(ROOT / "crdt" / "transaction.py", TESTS, SPLICE, only, time_limit=120)
    bad |= run(ROOT / "crdt" / "sequence.py", TESTS, BACKSPACE, only, time_limit=120)
    bad |= run(ROOT / "crdt" / "sequence.py", DELETE_TESTS, DELETE, only, time_limit=300)
    bad |= run(ROOT / "crdt" / "sequence.py", FAR_TESTS, FAR_JUMP, only, time_limit=300)
    bad |= run(ROOT / "crdt" / "sequence.py", CURSOR_TESTS, CURSOR, only, time_limit=300)
    bad |= run(ROOT / "crdt" / "sequence.py", POSITION_TESTS, POSITION, only, time_limit=600)
    bad |= run(ROOT / "crdt" / "run.py", RUN_TESTS, TAKE_FIRST, only, time_limit=300)
    bad |= run(ROOT / "crdt" / "op.py", OP_TESTS, EXTEND_INS, only, time_limit=300)
    return bad


if __name__ == "__main__":
    sys.exit(main())
