"""Conformance-driver commands for storage (``python -m crdt.conformance``).

* ``{"cmd": "open", "peer": "A", "dir": "...", "actor": "<hex>"?}``: the peer becomes the
  document stored in ``dir`` (an empty one if there is none) and persists to it with
  ``fsync="always"``.  Prints ``{"peer", "opened", "heads"}``.  From then on each commit of
  the peer prints ``{"ack": "<hash hex>"}`` once the change is durable, in commit order,
  and changes the peer receives by ``sync`` are persisted too (stale ones are rejected).
* ``{"cmd": "epoch", "peer": "A", "migration": ...?}``: snapshot the peer and start a new
  epoch at its heads.  Prints ``{"peer", "epoch", "root"}``.
* ``{"cmd": "close", "peer": "A"}``: close the peer's store (the peer stays, unpersisted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..conformance import need, optional
from ..errors import UsageError
from .store import PersistentDoc, Store

if TYPE_CHECKING:
    from ..conformance import Driver
    from ..doc import Doc


def install(driver: Driver) -> None:
    stores: dict[str, PersistentDoc] = {}

    def stored(name: Any) -> PersistentDoc:
        pd = stores.get(name)
        if pd is None or pd.doc is not driver.peers.get(name):
            raise UsageError(f"peer {name!r} has no open store")
        return pd

    def open_(cmd: dict[str, Any]) -> None:
        name = need(cmd, "peer", str)
        directory = need(cmd, "dir", str)
        actor = optional(cmd, "actor", str)  # (absent or null: a random one)
        old = stores.pop(name, None)
        if old is not None:
            old.detach()
            old.store.close()
        store = Store.open(directory, "always")
        try:
            pd = store.open_doc(actor, clock=lambda: 0)
        except BaseException:
            store.close()
            raise
        stores[name] = pd
        driver.peers[name] = pd.doc
        driver.out(
            {
                "peer": name,
                "opened": directory,
                "heads": [h.hex() for h in pd.doc.heads],
            }
        )

    def epoch(cmd: dict[str, Any]) -> None:
        pd = stored(need(cmd, "peer", str))
        if pd.doc._tx is not None:
            raise UsageError("commit first")
        pd.persist()
        info = pd.store.create_epoch(pd, cmd.get("migration"))
        driver.out(
            {"peer": need(cmd, "peer"), "epoch": info.number, "root": (info.root or b"").hex()}
        )

    def close(cmd: dict[str, Any]) -> None:
        pd = stores.pop(need(cmd, "peer", str), None)
        if pd is not None:
            # the peer stays, in memory: its commits from now on are not persisted (and
            # do not fail on the closed store)
            pd.detach()
            pd.store.close()

    def sync(cmd: dict[str, Any]) -> None:
        src = driver.peer(need(cmd, "from", str))
        dst = driver.peer(need(cmd, "to", str))
        if dst._tx is not None:
            raise UsageError("receiver has an open transaction; commit first")
        changes = src.get_changes(dst.heads) if dst.heads else src.get_changes()
        pd = stores.get(need(cmd, "to"))
        if pd is not None and pd.doc is dst:
            pd.apply_changes(changes)
        else:
            dst.apply_changes(changes)

    def on_commit(peer: str, doc: Doc, hsh: bytes) -> None:
        pd = stores.get(peer)
        if pd is None or pd.doc is not doc:
            return
        # the PersistentDoc's hook logged the change as it was committed, durably
        # (fsync="always"), before the commit returned: had it failed, the commit would
        # have raised (the change was appended here too, so each was logged twice)
        driver.out({"ack": hsh.hex()})

    driver.hooks.update({"open": open_, "epoch": epoch, "close": close, "sync": sync})
    driver.commit_listeners.append(on_commit)
