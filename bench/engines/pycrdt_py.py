"""Adapter for pycrdt, the Python binding of Yrs (the Rust port of Yjs)."""

from __future__ import annotations

import importlib.metadata
from typing import Any


class Pycrdt:
    name = "pycrdt"
    # Yrs as bound by pycrdt indexes text in UTF-8 bytes: the worker converts the trace's
    # code-point positions once, untimed (bench.traces.to_utf8_patches).
    positions = "utf8"

    def __init__(self) -> None:
        from pycrdt import Doc, Text

        self.Doc: Any = Doc
        self.Text = Text
        self.version = importlib.metadata.version("pycrdt")
        self.extra_forks = 0

    def _text(self, doc: Any) -> Any:
        return doc.get("text", type=self.Text)

    def create(self, agent: int) -> Any:
        return self.Doc(client_id=agent + 1)

    def edit(self, doc: Any, patches: list[list[Any]]) -> Any:
        text = self._text(doc)
        with doc.transaction():
            for pos, dl, ins in patches:
                if dl:
                    del text[pos : pos + dl]
                if ins:
                    text.insert(pos, ins)
        return doc

    def settle(self, doc: Any) -> None:
        """Nothing is left after B1's edits: each transaction is complete when it ends."""

    def fork(self, doc: Any, agent: int) -> Any:
        d = self.Doc(client_id=agent + 1)
        d.apply_update(doc.get_update())
        return d

    def adopt(self, doc: Any, agent: int) -> Any:
        # A pycrdt Doc's client id is fixed at creation, so taking a document over for
        # another agent costs a fork (Yjs just reassigns doc.clientID).
        if doc.client_id == agent + 1:
            return doc
        self.extra_forks += 1
        return self.fork(doc, agent)

    def merge(self, doc: Any, other: Any) -> Any:
        doc.apply_update(other.get_update(doc.get_state()))
        return doc

    def text(self, doc: Any) -> str:
        return str(self._text(doc))

    def export_history(self, doc: Any, ctx: dict[str, Any]) -> dict[str, Any]:
        if ctx["mode"] == "per-patch":
            # As for Yjs: per-transaction updates collected in an untimed re-run of B1,
            # so that B1 itself runs without an observer.
            d = self.Doc(client_id=1)
            updates: list[bytes] = []
            sub = d.observe(lambda ev: updates.append(ev.update))
            if ctx.get("startContent"):
                self.edit(d, [[0, 0, ctx["startContent"]]])
            for t in ctx["txns"]:
                self.edit(d, t["patches"])
            d.unobserve(sub)
            ctx["updates"] = len(updates)
            note = (
                f"pycrdt: {len(updates)} per-transaction updates (Doc.observe, collected in "
                "an untimed re-run of B1), applied one by one"
            )
            return {"note": note, "data": updates, "list": True}
        return {
            "note": "pycrdt: one update from get_update()",
            "data": doc.get_update(),
            "list": False,
        }

    def apply_history(self, hist: dict[str, Any]) -> Any:
        d = self.Doc()
        if hist["list"]:
            for u in hist["data"]:
                d.apply_update(u)
        else:
            d.apply_update(hist["data"])
        return d

    def save(self, doc: Any) -> bytes:
        data: bytes = doc.get_update()
        return data

    def load(self, data: bytes) -> Any:
        d = self.Doc()
        d.apply_update(data)
        return d

    def n_changes(self, doc: Any, ctx: dict[str, Any]) -> int:
        if ctx["mode"] == "per-patch":
            return int(ctx.get("updates", len(ctx["txns"])))
        if ctx["mode"] == "one":
            return 1
        return len(ctx["txns"])

    def free(self, doc: Any) -> None:
        pass


def make() -> Pycrdt:
    return Pycrdt()
