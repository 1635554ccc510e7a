"""The keystroke path of ``Transaction.splice`` (crdt/transaction.py).

Typing on after the run the transaction's last insert made grows that run in place, in
the splice's own frame, without the general path (``_insert`` -> ``Sequence.local_insert``
-> ``_locate``); a backspace keeps the sequence's position cache.  Both must be invisible:
the same edits made through ``tx.insert`` and ``tx.remove``, which never take the
keystroke path, must give the same changes, byte for byte, and the same text as a plain
``str`` edited alongside.  Forks (whose chunks share runs with the original until one
writes) and rollbacks (which rebuild the state) are in the edits, since both leave a
cached run behind that must not be grown.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import Doc

ACTOR = "ab" * 16
FORK = "cd" * 16
OTHER = "ef" * 16  # the documents' actor after a switch

# one edit: (kind, a, b) with a, b in [0, 1) scaled to the text at hand
_edit = st.tuples(
    st.sampled_from(
        ["type"] * 4
        + ["backspace"] * 3
        + ["del_fwd", "overtype", "jump", "splice", "delete", "commit", "commit"]
        + ["fork", "fork", "rollback", "switch"]
    ),
    st.floats(0, 1, exclude_max=True),
    st.floats(0, 1, exclude_max=True),
)


def _docs() -> tuple[Doc, Doc]:
    """Two documents of one actor and one clock, each with the text "t" made alike."""
    out = []
    for _ in range(2):
        d = Doc(ACTOR, clock=itertools.count(1).__next__, merge_interval=None)
        d.root.make_text("t")
        out.append(d)
    return out[0], out[1]


def _letters(a: float) -> str:
    return "xyzw"[: 1 + int(a * 4)]


def _ids(doc: Doc) -> list[tuple[int, bytes, bool]]:
    seq = doc._opset.objs[doc.root["t"].id].data
    return [(r.ctr + i, r.actor, r.deleted) for r in seq.runs() for i in range(r.n)]


class _Editor:
    """Drives the same edits into a document by ``splice`` (``fast``), one by ``insert``
    and ``remove`` (``slow``) and a ``str``; a cursor follows the typing."""

    def __init__(self) -> None:
        self.fast, self.slow = _docs()
        self.obj = self.fast.root["t"].id
        self.model = ""
        self.cursor = 0
        self.txs = [self.fast.transaction(), self.slow.transaction()]
        self.forks: list[tuple[Doc, str]] = []  # forks of ``fast`` and their text then

    def splice(self, pos: int, dl: int, ins: str) -> None:
        f, s = self.txs
        f.splice(self.obj, pos, dl, ins)
        if ins:
            s.insert(self.obj, pos, ins)
        if dl:
            s.remove(self.obj, pos + len(ins), dl)
        self.model = self.model[:pos] + ins + self.model[pos + dl :]
        self.cursor = pos + len(ins)

    def end(self) -> None:
        for tx in self.txs:
            tx.__exit__(None, None, None)

    def begin(self) -> None:
        self.txs = [self.fast.transaction(), self.slow.transaction()]

    def step(self, kind: str, a: float, b: float) -> None:
        n = len(self.model)
        if kind == "type":
            self.splice(self.cursor, 0, _letters(a))
        elif kind == "backspace":
            if self.cursor:
                self.splice(self.cursor - 1, 1, "")
        elif kind == "del_fwd":
            if self.cursor < n:
                self.splice(self.cursor, 1, "")
        elif kind == "overtype":
            self.splice(self.cursor, min(1, n - self.cursor), _letters(a))
        elif kind == "switch":
            # another actor types on in the same documents: the run before the cursor may
            # end at the counter before theirs, but is not theirs to grow
            self.end()
            for d in (self.fast, self.slow):
                d.actor = OTHER if d.actor == bytes.fromhex(ACTOR) else ACTOR
            self.begin()
        elif kind == "jump":
            self.cursor = int(a * (n + 1))
        elif kind == "splice":
            pos = int(a * (n + 1))
            self.splice(pos, int(b * (n - pos + 1)), _letters(b))
        elif kind == "delete":
            pos = int(a * (n + 1))
            self.splice(pos, int(b * (n - pos + 1)), "")
        elif kind == "commit":
            self.end()
            self.begin()
        elif kind == "fork":
            # a fork shares the original's chunks: typing on in the original must copy them
            self.end()
            self.forks.append((self.fast.fork(FORK), self.model))
            self.begin()
        elif kind == "rollback":
            # what was typed since the last commit goes; the state is rebuilt
            for tx in self.txs:
                tx.rollback()
            self.model = str(self.fast.root["t"])
            self.cursor = min(self.cursor, len(self.model))
            self.begin()

    def check(self) -> None:
        self.end()
        assert str(self.fast.root["t"]) == self.model
        assert str(self.slow.root["t"]) == self.model
        # the same ops, counters and references: the same changes, byte for byte
        assert self.fast.heads == self.slow.heads
        assert self.fast.get_changes() == self.slow.get_changes()
        self.fast._check()
        # every element (tombstones too) has the id the general path gave it
        assert _ids(self.fast) == _ids(self.slow)
        for fork, text in self.forks:
            assert str(fork.root["t"]) == text  # the original's typing never reached it
            fork._check()
            with fork.transaction() as tx:  # and the fork types on from its own state
                tx.splice(self.obj, len(text), 0, "q")
            assert str(fork.root["t"]) == text + "q"
        replica = Doc()
        replica.apply_changes(self.fast.get_changes())
        assert str(replica.root["t"]) == self.model


@settings(max_examples=300, deadline=None)
@given(edits=st.lists(_edit, max_size=60))
def test_keystroke_path_is_the_general_path(edits: list[tuple[str, float, float]]) -> None:
    ed = _Editor()
    for kind, a, b in edits:
        ed.step(kind, a, b)
        ed.fast._opset.objs[ed.obj].data._check()
    ed.check()


@pytest.mark.parametrize("seed", range(4))
def test_long_random_typing_session(seed: int) -> None:
    """Thousands of keystrokes of mostly typing on, every other kind of edit now and then,
    the runs splitting into chunks; the sequence's invariants checked every 50 steps."""
    rng = random.Random(seed)
    kinds = ["type"] * 12 + ["backspace"] * 4 + ["del_fwd", "overtype"] * 2
    kinds += ["jump", "splice", "delete", "commit", "fork", "rollback", "switch"]
    ed = _Editor()
    for i in range(2000):
        ed.step(rng.choice(kinds), rng.random(), rng.random() * 0.01)  # (short deletions)
        if i % 50 == 0:
            ed.fast._opset.objs[ed.obj].data._check()
    ed.check()
    assert len(ed.model) > 500


def test_a_read_by_position_after_a_fork() -> None:
    """A read by position (``element_at``: lists read so) after a fork leaves the position
    cache on a run the fork shares; typing on after it must copy the chunk first."""
    ed = _Editor()
    ed.step("type", 0.9, 0)
    ed.step("type", 0.9, 0)
    ed.step("fork", 0, 0)
    seq = ed.fast._opset.objs[ed.obj].data
    seq.element_at(len(ed.model) - 1)
    ed.step("type", 0.9, 0)
    ed.check()


def test_overtyping_after_typing() -> None:
    """A splice that deletes is never the keystroke path, even right after the run."""
    ed = _Editor()
    for kind, a in [("type", 0.9), ("type", 0.9), ("jump", 0.3), ("type", 0.9)]:
        ed.step(kind, a, 0)
    ed.step("overtype", 0.2, 0)
    ed.check()
    assert str(ed.fast.root["t"]) == "xyxyzwxwxyzw"  # xyxyzw|zwxyzw: z -> x


def test_typing_on_after_backspaces_in_one_transaction() -> None:
    """Backspaces keep the run found by position; what is typed next goes after it,
    before the tombstones the backspaces made."""
    ed = _Editor()
    ed.step("type", 0.9, 0)  # xyzw
    ed.step("backspace", 0, 0)  # xyz
    ed.step("type", 0.0, 0)  # xyzx
    ed.step("backspace", 0, 0)  # xyz
    ed.step("type", 0.5, 0)  # xyzxyz
    ed.check()
    assert str(ed.fast.root["t"]) == "xyzxyz"


def test_a_fork_between_backspaces() -> None:
    """The second backspace after a fork copies the shared chunk first: the run the
    position cache held is the fork's now, and must not stay cached."""
    ed = _Editor()
    for kind in ["type", "type", "backspace", "fork", "backspace", "del_fwd", "type"]:
        ed.step(kind, 0.9, 0)
        ed.fast._opset.objs[ed.obj].data._check()
    ed.check()


def test_another_actor_types_on_after_the_run() -> None:
    """Actor B types right after A's run, at the very counter that would continue it."""
    ed = _Editor()
    ed.step("type", 0.9, 0)
    ed.step("switch", 0, 0)
    ed.step("type", 0.9, 0)
    ed.check()
    seq = ed.fast._opset.objs[ed.obj].data
    assert [(r.actor.hex(), r.content) for r in seq.runs()] == [(ACTOR, "xyzw"), (OTHER, "xyzw")]
