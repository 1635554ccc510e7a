"""``python -m crdt.conformance``: drive peers with JSON lines on stdin (SPEC.md "Conformance").

Each input line is one command; outputs are JSON lines.  Any error prints
``{"error": "<ErrorClass>", "message": "..."}`` and the driver goes on.  Change times are
fixed at 0, so the same scenario gives the same change hashes in every run.

Commands: new, make, put, delete, insert, splice, commit, sync, dump (see SPEC.md), plus
``conflicts`` and ``changes`` for debugging, and the storage commands ``open``, ``epoch``
and ``close`` (:mod:`crdt.storage.driver`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import IO, Any

from .doc import Doc
from .errors import CrdtError, UsageError
from .ids import ObjId
from .transaction import Transaction
from .values import Counter, ObjType

_TYPES = {"map": ObjType.MAP, "list": ObjType.LIST, "text": ObjType.TEXT}


def _json_value(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if isinstance(v, Counter):
        return v.value
    if isinstance(v, bytes):
        return v.hex()
    return v


class Driver:
    """The state of one conformance session: named peers and their open transactions."""

    def __init__(self, out: Callable[[dict[str, Any]], None]) -> None:
        self.peers: dict[str, Doc] = {}
        self.out = out
        self.hooks: dict[str, Callable[[dict[str, Any]], None]] = {}  # extra commands
        self.commit_listeners: list[Callable[[str, Doc, bytes], None]] = []
        from .storage.driver import install

        install(self)  # storage commands: open, epoch, close (and a persisting sync)

    def peer(self, name: Any) -> Doc:
        doc = self.peers.get(name)
        if doc is None:
            raise UsageError(f"unknown peer {name!r}")
        return doc

    def tx(self, doc: Doc) -> Transaction:
        return doc._tx if doc._tx is not None else doc.begin(time=0)

    def target(self, doc: Doc, path: Any) -> tuple[ObjId, Any]:
        if not isinstance(path, list) or not path:
            raise UsageError("path must be a non-empty list")
        return doc.resolve(path)

    def handle(self, cmd: dict[str, Any]) -> None:
        c = cmd.get("cmd")
        if c in self.hooks:
            self.hooks[c](cmd)
            return
        if c == "new":
            name = need(cmd, "peer")
            self.peers[name] = Doc(cmd.get("actor"), clock=lambda: 0)
        elif c == "make":
            doc = self.peer(need(cmd, "peer"))
            obj, key = self.target(doc, need(cmd, "path"))
            typ = _TYPES.get(need(cmd, "type"))
            if typ is None:
                raise UsageError(f"unknown type {cmd['type']!r}")
            tx = self.tx(doc)
            if doc.obj_type(obj) == ObjType.MAP:
                tx.make(obj, key, typ)
            else:
                tx.insert_object(obj, key, typ)
        elif c == "put":
            doc = self.peer(need(cmd, "peer"))
            obj, key = self.target(doc, need(cmd, "path"))
            self.tx(doc).put(obj, key, _scalar(need(cmd, "value")))
        elif c == "delete":
            doc = self.peer(need(cmd, "peer"))
            obj, key = self.target(doc, need(cmd, "path"))
            self.tx(doc).delete(obj, key)
        elif c == "insert":
            doc = self.peer(need(cmd, "peer"))
            obj, key = self.target(doc, need(cmd, "path"))
            if type(key) is not int:
                raise UsageError("insert path must end in an index")
            self.tx(doc).insert(obj, key, [_scalar(need(cmd, "value"))])
        elif c == "splice":
            doc = self.peer(need(cmd, "peer"))
            obj = doc.obj_at(need(cmd, "path"))
            if doc.obj_type(obj) != ObjType.TEXT:
                raise UsageError("splice needs a text object")
            pos, dl = int(cmd.get("pos", 0)), int(cmd.get("del", 0))
            self.tx(doc).splice(obj, pos, dl, cmd.get("text", ""))
        elif c == "commit":
            doc = self.peer(need(cmd, "peer"))
            if doc._tx is not None:
                ch = doc._tx.commit()
                if ch is not None:
                    self.on_commit(need(cmd, "peer"), doc, ch.hash)
        elif c == "sync":
            src = self.peer(need(cmd, "from"))
            dst = self.peer(need(cmd, "to"))
            if dst._tx is not None:
                raise UsageError("receiver has an open transaction; commit first")
            dst.apply_changes(src.get_changes(dst.heads) if dst.heads else src.get_changes())
        elif c == "dump":
            doc = self.peer(need(cmd, "peer"))
            self.out(
                {
                    "peer": need(cmd, "peer"),
                    "value": _json_value(doc.to_py()),
                    "heads": [h.hex() for h in doc.heads],
                }
            )
        elif c == "conflicts":
            doc = self.peer(need(cmd, "peer"))
            conf = doc.conflicts(need(cmd, "path"))
            self.out(
                {
                    "peer": need(cmd, "peer"),
                    "conflicts": {
                        f"{k[0]}@{k[1].hex()}": (
                            v.name.lower() if isinstance(v, ObjType) else _json_value(v)
                        )
                        for k, v in conf.items()
                    },
                }
            )
        elif c == "changes":
            doc = self.peer(need(cmd, "peer"))
            self.out({"peer": need(cmd, "peer"), "changes": [r.hex() for r in doc.get_changes()]})
        else:
            raise UsageError(f"unknown command {c!r}")

    def on_commit(self, peer: str, doc: Doc, hsh: bytes) -> None:
        """Called after each commit; the storage layer acknowledges durable commits here."""
        for cb in self.commit_listeners:
            cb(peer, doc, hsh)

    def run(self, lines: Iterable[str]) -> None:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
                if not isinstance(cmd, dict):
                    raise UsageError("each line must be a JSON object")
                self.handle(cmd)
            except CrdtError as exc:
                self.out({"error": type(exc).__name__, "message": str(exc)})
            except (KeyError, ValueError, TypeError, IndexError) as exc:
                # bad command shape: report as the driver's own usage error
                self.out({"error": "UsageError", "message": f"{type(exc).__name__}: {exc}"})


def need(cmd: dict[str, Any], field: str) -> Any:
    """``cmd[field]``; a missing field is the command's usage error (SPEC.md 9.4), named."""
    if field not in cmd:
        raise UsageError(f"{cmd.get('cmd')!r} needs the field {field!r}")
    return cmd[field]


def _scalar(v: Any) -> Any:
    if isinstance(v, dict | list):
        raise UsageError("value must be a JSON scalar")
    return v


def main(stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    src = stdin or sys.stdin
    dst = stdout or sys.stdout

    def out(obj: dict[str, Any]) -> None:
        dst.write(json.dumps(obj, separators=(",", ":")) + "\n")
        dst.flush()

    Driver(out).run(iter(src.readline, ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
