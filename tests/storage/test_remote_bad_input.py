"""``PersistentDoc.apply_changes`` with bad input: a call that fails changes nothing (the
document, the store, the changes waiting for deps), and a change an earlier call left
waiting that turns out invalid is rejected without blocking the changes that complete it
(SPEC.md 7.3, 7.4 and 13.8)."""

from __future__ import annotations

from pathlib import Path

import pytest

import crdt.doc as doc_module
from crdt import DecodeError, Doc, InvalidChangeError, MissingDependencyError, decode_change
from crdt.change import encode_change
from crdt.op import SET
from crdt.storage import PersistentDoc, Store


def _peers() -> tuple[Doc, bytes, bytes]:
    """A document, and two changes a peer made on it: D, then X on D."""
    a = Doc(actor="aa")
    a["x"] = 1
    b = a.fork(actor="bb")
    b["y"] = 2
    b.heads  # noqa: B018  (seals the change: X is a change of its own)
    b["z"] = 3
    d, x = b.get_changes(a.heads)
    return a, d, x


def _invalid_on(dep: bytes, key: str = "q", actor: bytes = b"\xcc") -> bytes:
    """A change by another peer on D whose op names a pred no change made: invalid."""
    u = decode_change(dep)
    op = (SET, None, key, 1, ((99, b"\xee"),))
    bad, _ = encode_change(actor, 1, u.start_op + u.n_ops, 0, None, (u.hash,), [op])
    return bad


def _seen(st: Store, pd: PersistentDoc) -> tuple[object, ...]:
    """Everything a failed call must leave as it was."""
    doc = pd.doc
    return doc.to_py(), doc.heads, pd.waiting, pd.missing_deps(), len(st.rejected), st.heads


def test_malformed_change_late_in_a_call_changes_nothing(tmp_path: Path) -> None:
    a, d, x = _peers()
    with Store.open(str(tmp_path / "s")) as st:
        pd = st.attach(a)
        before = _seen(st, pd)
        for bad in (x[:-2], b"\xc1", x + b"\x00"):
            with pytest.raises(DecodeError):
                pd.apply_changes([d, bad])
            assert _seen(st, pd) == before  # d is not left waiting, nor applied
        assert [c.hash for c in pd.apply_changes([d, x])] == [
            decode_change(d).hash,
            decode_change(x).hash,
        ]
        assert pd.doc.to_py() == {"x": 1, "y": 2, "z": 3}


def test_failed_call_keeps_the_changes_earlier_calls_left_waiting(tmp_path: Path) -> None:
    a, d, x = _peers()
    p = str(tmp_path / "s")
    with Store.open(p) as st:
        pd = st.attach(a)
        assert pd.apply_changes([x]) == [] and pd.waiting == 1  # waits for d
        before = _seen(st, pd)
        with pytest.raises(InvalidChangeError):
            pd.apply_changes([d, _invalid_on(d)])  # the invalid change is this call's own
        assert _seen(st, pd) == before
        assert len(pd.apply_changes([d])) == 2  # d, and x that waited for it
        assert pd.doc.to_py() == {"x": 1, "y": 2, "z": 3} and pd.waiting == 0
        want = pd.doc.to_py()
    with Store.open(p) as st:
        assert st.read_doc().to_py() == want


def test_invalid_change_an_earlier_call_left_waiting_is_rejected_not_blocking(
    tmp_path: Path,
) -> None:
    a, d, x = _peers()
    bad = _invalid_on(d)
    bad_hash = decode_change(bad).hash
    p = str(tmp_path / "s")
    with Store.open(p) as st:
        pd = st.attach(a)
        assert pd.apply_changes([bad]) == [] and pd.waiting == 1
        applied = pd.apply_changes([d, x])  # releases bad: rejected, and the call goes on
        assert len(applied) == 2 and pd.doc.to_py() == {"x": 1, "y": 2, "z": 3}
        assert pd.waiting == 0
        assert [(r.hash, r.reason.split(":")[0]) for r in st.rejected] == [(bad_hash, "invalid")]
        want = pd.doc.to_py()
    with Store.open(p) as st:
        assert st.read_doc().to_py() == want
        assert [r.hash for r in st.rejected] == [bad_hash]


def test_invalid_changes_earlier_calls_left_waiting_are_found_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call that releases many invalid waiting changes finds them all on one copy of the
    document, not on one copy each (a copy costs the whole history)."""
    a, d, x = _peers()
    bad = [_invalid_on(d, actor=bytes([k]) * 4) for k in (0xC1, 0xC2, 0xC3)]
    forks: list[int] = []
    fork = Doc.fork

    def counted(self: Doc, actor: bytes | str | None = None) -> Doc:
        forks.append(1)
        return fork(self, actor)

    monkeypatch.setattr(Doc, "fork", counted)
    with Store.open(str(tmp_path / "s")) as st:
        pd = st.attach(a)
        for b in bad:
            assert pd.apply_changes([b]) == []
        assert pd.waiting == 3
        assert len(pd.apply_changes([d, x])) == 2
        assert pd.doc.to_py() == {"x": 1, "y": 2, "z": 3} and pd.waiting == 0
        assert sorted(r.hash for r in st.rejected) == sorted(decode_change(b).hash for b in bad)
        assert forks == [1]


def test_waiting_changes_are_bounded_as_the_documents_buffer_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More changes waiting than the document's bound on its buffer fails the call with
    MissingDependencyError, changing nothing; the changes still apply once their deps
    come (SPEC.md 7.3)."""
    a = Doc(actor="aa")
    a["x"] = 0
    b = a.fork(actor="bb")
    for k in range(5):
        b[f"k{k}"] = k
        b.heads  # noqa: B018  (a change each)
    chain = b.get_changes(a.heads)
    monkeypatch.setattr(doc_module, "MAX_PENDING", 3)
    with Store.open(str(tmp_path / "s")) as st:
        pd = st.attach(a)
        assert pd.apply_changes(chain[1:4]) == [] and pd.waiting == 3
        before = _seen(st, pd)
        with pytest.raises(MissingDependencyError):
            pd.apply_changes(chain[4:])
        assert _seen(st, pd) == before
        assert len(pd.apply_changes(chain[:1] + chain[4:])) == 5 and pd.waiting == 0
