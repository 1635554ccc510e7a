"""Adapter for Loro's Python binding (``loro``), the Rust engine behind loro-crdt."""

from __future__ import annotations

import importlib.metadata
from typing import Any


class LoroPy:
    name = "loro-py"
    positions = "codepoint"  # LoroText.insert/delete take Unicode (code point) positions

    def __init__(self) -> None:
        from loro import ExportMode, LoroDoc, VersionVector

        self.LoroDoc: Any = LoroDoc
        self.ExportMode: Any = ExportMode
        self.VersionVector: Any = VersionVector
        self.version = importlib.metadata.version("loro")

    def create(self, agent: int) -> Any:
        d = self.LoroDoc()
        d.peer_id = agent + 1
        return d

    def edit(self, doc: Any, patches: list[list[Any]]) -> Any:
        text = doc.get_text("text")
        for pos, dl, ins in patches:
            if dl:
                text.delete(pos, dl)
            if ins:
                text.insert(pos, ins)
        doc.commit()
        return doc

    def settle(self, doc: Any) -> None:
        """Nothing is left after B1's edits: each edit commits."""

    def fork(self, doc: Any, agent: int) -> Any:
        d = doc.fork()
        d.peer_id = agent + 1
        return d

    def adopt(self, doc: Any, agent: int) -> Any:
        doc.peer_id = agent + 1
        return doc

    def merge(self, doc: Any, other: Any) -> Any:
        doc.import_(other.export(self.ExportMode.Updates(from_=doc.oplog_vv)))
        return doc

    def text(self, doc: Any) -> str:
        s: str = doc.get_text("text").to_string()
        return s

    def export_history(self, doc: Any, ctx: dict[str, Any]) -> dict[str, Any]:
        data = doc.export(self.ExportMode.Updates(from_=self.VersionVector()))
        return {
            "note": "Loro: export(Updates from empty) -> import_ into new LoroDoc",
            "data": data,
        }

    def apply_history(self, hist: dict[str, Any]) -> Any:
        d = self.LoroDoc()
        d.import_(hist["data"])
        return d

    def save(self, doc: Any) -> bytes:
        data: bytes = doc.export(self.ExportMode.Snapshot())
        return data

    def load(self, data: bytes) -> Any:
        d = self.LoroDoc()
        d.import_(data)
        return d

    def n_changes(self, doc: Any, ctx: dict[str, Any]) -> int:
        n: int = doc.len_changes
        return n

    def free(self, doc: Any) -> None:
        pass


def make() -> LoroPy:
    return LoroPy()
