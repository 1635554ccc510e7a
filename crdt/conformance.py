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

    def target(self, doc: Doc, cmd: dict[str, Any]) -> tuple[ObjId, Any]:
        return doc.resolve(need_path(cmd))

    def handle(self, cmd: dict[str, Any]) -> None:
        """Carry out one command; one that raises changes nothing (SPEC.md 9.4): a
        transaction it opened (its edit was to be the first of one) is rolled back."""
        idle = [doc for doc in self.peers.values() if doc._tx is None]
        try:
            self._handle(cmd)
        except BaseException:
            for doc in idle:
                if doc._tx is not None:
                    doc._tx.rollback()
            raise

    def _handle(self, cmd: dict[str, Any]) -> None:
        if "cmd" not in cmd:
            raise UsageError("a command needs the field 'cmd'")
        c = cmd["cmd"]
        if type(c) is not str:
            name = _JSON_NAMES.get(type(c), type(c).__name__)
            raise UsageError(f"the field 'cmd' must be a string, not {name}")
        if c in self.hooks:
            self.hooks[c](cmd)
            return
        if c == "new":
            name = need(cmd, "peer", str)
            # (absent or null: a random actor)
            self.peers[name] = Doc(optional(cmd, "actor", str), clock=lambda: 0)
        elif c == "make":
            doc = self.peer(need(cmd, "peer", str))
            obj, key = self.target(doc, cmd)
            typ = _TYPES.get(need(cmd, "type", str))
            if typ is None:
                raise UsageError(f"unknown type {cmd['type']!r}")
            tx = self.tx(doc)
            if doc.obj_type(obj) == ObjType.MAP:
                tx.make(obj, key, typ)
            else:
                tx.insert_object(obj, key, typ)
        elif c == "put":
            doc = self.peer(need(cmd, "peer", str))
            obj, key = self.target(doc, cmd)
            self.tx(doc).put(obj, key, _scalar(need(cmd, "value")))
        elif c == "delete":
            doc = self.peer(need(cmd, "peer", str))
            obj, key = self.target(doc, cmd)
            self.tx(doc).delete(obj, key)
        elif c == "insert":
            doc = self.peer(need(cmd, "peer", str))
            obj, key = self.target(doc, cmd)
            if type(key) is not int:
                raise UsageError("insert path must end in an index")
            self.tx(doc).insert(obj, key, [_scalar(need(cmd, "value"))])
        elif c == "splice":
            doc = self.peer(need(cmd, "peer", str))
            obj = doc.obj_at(need_path(cmd))
            if doc.obj_type(obj) != ObjType.TEXT:
                raise UsageError("splice needs a text object")
            pos, dl = need(cmd, "pos", int, 0), need(cmd, "del", int, 0)
            self.tx(doc).splice(obj, pos, dl, need(cmd, "text", str, ""))
        elif c == "commit":
            doc = self.peer(need(cmd, "peer", str))
            if doc._tx is not None:
                ch = doc._tx.commit()
                if ch is not None:
                    self.on_commit(need(cmd, "peer"), doc, ch.hash)
        elif c == "sync":
            src = self.peer(need(cmd, "from", str))
            dst = self.peer(need(cmd, "to", str))
            if dst._tx is not None:
                raise UsageError("receiver has an open transaction; commit first")
            dst.apply_changes(src.get_changes(dst.heads) if dst.heads else src.get_changes())
        elif c == "dump":
            doc = self.peer(need(cmd, "peer", str))
            self.out(
                {
                    "peer": need(cmd, "peer"),
                    "value": _json_value(doc.to_py()),
                    "heads": [h.hex() for h in doc.heads],
                }
            )
        elif c == "conflicts":
            doc = self.peer(need(cmd, "peer", str))
            conf = doc.conflicts(need_path(cmd))
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
            doc = self.peer(need(cmd, "peer", str))
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
                try:
                    cmd = json.loads(line)
                except ValueError as exc:  # (json.JSONDecodeError, or bad UTF-16 surrogates)
                    raise UsageError(f"a line that is not JSON: {exc}") from None
                if not isinstance(cmd, dict):
                    raise UsageError("each line must be a JSON object")
                self.handle(cmd)
            except CrdtError as exc:
                self.out({"error": type(exc).__name__, "message": str(exc)})
            except (KeyError, ValueError, TypeError, IndexError) as exc:
                # a safety net: every bad field has its own UsageError, and the seeded
                # fuzzer (tests/test_conformance_fuzz.py) fails if one gets here
                self.out({"error": "UsageError", "message": f"{type(exc).__name__}: {exc}"})


_MISSING: Any = object()

# JSON's names for the Python types json.loads makes, as a message says them
_JSON_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def need(cmd: dict[str, Any], field: str, kind: type | None = None, default: Any = _MISSING) -> Any:
    """``cmd[field]``, of JSON type ``kind`` if given (exactly: a boolean is not an integer,
    and nothing is converted: ``"2"`` and ``2.0`` are not ``2``).  A missing field without
    a ``default``, or a field of another type, is the command's usage error (SPEC.md 9.4),
    which names the command and the field."""
    if field not in cmd:
        if default is not _MISSING:
            return default
        raise UsageError(f"{cmd.get('cmd')!r} needs the field {field!r}")
    v = cmd[field]
    if kind is not None and type(v) is not kind:
        raise UsageError(
            f"{cmd.get('cmd')!r} field {field!r} must be {_JSON_NAMES[kind]}, "
            f"not {_JSON_NAMES.get(type(v), type(v).__name__)}"
        )
    return v


def optional(cmd: dict[str, Any], field: str, kind: type) -> Any:
    """``cmd[field]`` of JSON type ``kind``, or None if it is absent or null."""
    return None if cmd.get(field) is None else need(cmd, field, kind)


def need_path(cmd: dict[str, Any]) -> list[Any]:
    """``cmd["path"]``: a non-empty array (its items are checked as it is followed)."""
    path: list[Any] = need(cmd, "path", list)
    if not path:
        raise UsageError(f"{cmd.get('cmd')!r} field 'path' must not be empty")
    return path


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
