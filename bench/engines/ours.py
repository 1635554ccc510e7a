"""Adapter for our engine (``crdt``)."""

from __future__ import annotations

import importlib.metadata
from typing import Any

GENESIS_ACTOR = "00" * 16


def actor_of(agent: int) -> str:
    return f"{agent + 1:032x}"  # agent 0 -> 000...01 (16 bytes)


class Ours:
    name = "ours"
    positions = "codepoint"

    def __init__(self) -> None:
        import crdt
        from crdt import Doc

        self.Doc = Doc
        try:
            self.version = importlib.metadata.version("echo-crdt")
        except importlib.metadata.PackageNotFoundError:
            self.version = crdt.__version__
        self._genesis: Any = None

    # The text object must be created by some change: one genesis change (made once,
    # untimed) that every replica starts from, as Automerge does in run_trace.mjs.  It is
    # part of the history that B2 replays and B3 saves.
    def _genesis_doc(self) -> Any:
        if self._genesis is None:
            g = self.Doc(actor=GENESIS_ACTOR)
            g.root.make_text("text")
            self._genesis = g
        return self._genesis

    def create(self, agent: int) -> Any:
        doc = self._genesis_doc().fork(actor=actor_of(agent))
        doc._bench_obj = doc.root["text"].id
        return doc

    def edit(self, doc: Any, patches: list[list[Any]]) -> Any:
        obj = doc._bench_obj
        with doc.transaction() as tx:
            splice = tx.splice
            for pos, dl, ins in patches:
                splice(obj, pos, dl, ins)
        return doc

    def settle(self, doc: Any) -> None:
        """Finish what B1's edits left to do: commits of ``with doc.transaction():`` blocks
        are sealed (encoded, hashed, recorded) when the history is first read.  Timed."""
        doc.heads  # noqa: B018  (reading the heads seals them)

    def fork(self, doc: Any, agent: int) -> Any:
        f = doc.fork(actor=actor_of(agent))
        f._bench_obj = doc._bench_obj
        return f

    def adopt(self, doc: Any, agent: int) -> Any:
        # seq numbers come from the history per actor, so switching the actor between
        # transactions is sound as long as the agent's own txns are causally ordered.
        doc.actor = bytes.fromhex(actor_of(agent))
        return doc

    def merge(self, doc: Any, other: Any) -> Any:
        doc.merge(other)
        return doc

    def text(self, doc: Any) -> str:
        return str(doc.root["text"])

    def export_history(self, doc: Any, ctx: dict[str, Any]) -> dict[str, Any]:
        return {"note": "ours: get_changes() -> Doc().apply_changes()", "data": doc.get_changes()}

    def apply_history(self, hist: dict[str, Any]) -> Any:
        d = self.Doc()
        d.apply_changes(hist["data"])
        return d

    def b2_floor(self, hist: dict[str, Any]) -> list[bytes]:
        """Hash each change of the history B2 applies, and nothing else: the least a
        receiver that verifies it does (SPEC.md: a change is named by its hash, and a dep
        names a change, so every hash is computed to check one).  Timed beside B2 as
        ``b2_floor_ms``: how close B2 can come to an engine that sends no hashes.  Returns
        the hashes, in order.  (``change_hash`` inlined, as the fast path hashes: a call
        per change would add its own cost to a floor that must be the least.)"""
        from crdt.change import new_hasher

        out: list[bytes] = []
        app = out.append
        for raw in hist["data"]:
            h = new_hasher()
            h.update(raw)
            app(h.digest())
        return out

    def save(self, doc: Any) -> bytes:
        data: bytes = doc.save()
        return data

    def load(self, data: bytes) -> Any:
        return self.Doc.load(data)

    def load_verified(self, data: bytes) -> Any:
        """A load that replays and verifies the whole history now (``verify=True``)."""
        return self.Doc.load(data, verify=True)

    def decode_history(self, doc: Any) -> None:
        """Decode the history a lazy load deferred (what the first sync or save pays)."""
        doc.get_changes()

    def snapshot(self, doc: Any) -> bytes:
        from crdt.snapshot import encode_snapshot

        data: bytes = encode_snapshot(doc)
        return data

    def load_snapshot(self, data: bytes) -> Any:
        from crdt.snapshot import load_snapshot

        return load_snapshot(data)

    def n_changes(self, doc: Any, ctx: dict[str, Any]) -> int:
        n: int = doc.change_count()
        return n

    def free(self, doc: Any) -> None:
        pass


def make() -> Ours:
    return Ours()
