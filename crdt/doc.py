"""The document: history, state, local transactions and verified remote changes.

>>> from crdt import Doc
>>> a = Doc(actor="aa")
>>> text = a.root.make_text("title")
>>> text.insert(0, "hello")
>>> b = a.fork(actor="bb")
>>> with a.transaction():
...     text.insert(5, " world")
>>> b.root["title"].insert(0, ">> ")
>>> _ = a.merge(b); _ = b.merge(a)
>>> a.to_py() == b.to_py() == {"title": ">> hello world"}
True
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Sequence as SeqABC
from itertools import islice
from typing import TYPE_CHECKING, Any

import msgpack
import xxhash

from . import change as _change
from .change import (
    MERGE_INTERVAL,
    Change,
    UnverifiedChange,
    change_hash,
    decode_change,
    decode_change_wire,
    encode_chain,
    encode_change,
)
from .codec import unpack, unpack_framed
from .compact import Scope
from .errors import (
    CrdtError,
    DecodeError,
    DuplicateSeqError,
    HashMismatchError,
    InvalidChangeError,
    MissingDependencyError,
    ObjectNotFoundError,
    StaleChangeError,
    TransactionError,
    UsageError,
)
from .fastpath import apply_fast
from .fill import can_fill, fill, gather, stretch
from .gcpause import gc_paused
from .hashindex import HashIndex
from .history import History
from .ids import ActorId, ObjId, OpId, coerce_actor
from .op import INS, INS_MAKE, NO_OP, REM, Op, join_ops, op_size
from .opset import OpSet
from .patches import Patch
from .sequence import Sequence
from .snapshot import Base, decode_snapshot, encode_snapshot
from .transaction import OP_BYTES, Savepoint, Transaction, bound_bytes, wire_bound
from .values import ObjType

if TYPE_CHECKING:
    from .containers import Map

Record = tuple[bytes, int]
"""A saved history's record: zlib of a compact change record, and how many changes it
holds (SPEC.md section 8)."""

SAVE_MAGIC = b"\x85ECHODOC"
SAVE_VERSION = 4
MAX_SAVE_BYTES = 1 << 31
"""A saved history that inflates beyond this is refused (a bound against zip bombs)."""
GC_PAUSE_BATCH = 1000
"""Batches of more changes than this run with the cyclic garbage collector paused."""
GC_PAUSE_BYTES = 64 * 1024
"""So do batches of more bytes than this (one big change makes as many objects as many
small ones)."""
# (a module global: `ObjType.MAP` is a lookup on the enum class, ~70 ns each time)
_MAP, _LIST, _TEXT = ObjType.MAP, ObjType.LIST, ObjType.TEXT
SEAL_EVERY = 256
"""Local changes waiting to be sealed (encoded, hashed and recorded) at the most."""

_SMALL_SPAN = 4096
"""A commit of more counters than this, or with anything heavy (``Transaction.heavy``),
is sealed as a change of its own, or refused if over the limit (``Doc._commit_big``)."""

_FIT_AHEAD = 256
"""Counters a merged change past _MERGE_SPAN grows by between two of its bounds."""

_MERGE_SPAN = (_change.MAX_CHANGE_BYTES // 2) // (OP_BYTES + 4)
"""Commits with nothing heavy merge into the change waiting before them while the merged
change holds at most this many counters (each of its ops takes a counter and at most
OP_BYTES, and 4 bytes a counter: ``bound_bytes``), or, past that, while the bound of its
ops does (``_merged_fit``): it stays under half a change's limit (``Doc._commit_later``)."""
MAX_PENDING = 100_000
"""Changes waiting for missing dependencies before :class:`MissingDependencyError`."""


class Subscription:
    """Returned by :meth:`Doc.observe`; call :meth:`close` (or use ``with``) to stop."""

    def __init__(self, doc: Doc, cb: Callable[..., None], registry: list[Any]) -> None:
        self._doc = doc
        self._cb = cb
        self._registry = registry  # the list the callback was added to

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self._registry.remove(self._cb)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Doc:
    """A CRDT document: a root map of nested maps, lists, text and scalars.

    Args:
        actor: this replica's actor id (bytes or hex); 16 random bytes if omitted.
        clock: returns the change time in ms; defaults to the wall clock.  Pass
            ``lambda: 0`` for reproducible change hashes.
        merge_interval: ``with doc.transaction():`` commits that no one has read yet
            (and with no message or fixed time) merge into one change while they come
            within this many ms of the first (the change is then, but for how runs of
            deletions meet, the one a single transaction holding all their edits would
            have made: SPEC.md 5.9).  ``None``: every commit is a change of its own.

    Raises:
        UsageError: ``merge_interval`` is neither None nor an int >= 0.
    """

    def __init__(
        self,
        actor: bytes | str | None = None,
        *,
        clock: Callable[[], int] | None = None,
        merge_interval: int | None = MERGE_INTERVAL,
    ):
        self._actor: ActorId = coerce_actor(actor)
        self._clock = clock
        self._merge_interval: int | None = None  # (set, and checked, just below)
        self.merge_interval = merge_interval
        self._hist = History()  # the change graph; read it as _history (seals first)
        # local changes not sealed yet, all by one actor: (start_op, time, message, ops,
        # n_ops, actor, time of the first commit merged into it, or None if none may be)
        self._unsealed: list[tuple[int, int, str | None, list[Op], int, bytes, int | None]] = []
        self._fit_until = 0  # the last one's commits up to this counter merge (_merged_fit)
        self._opset = OpSet()
        self._max_op = 0  # greatest counter in the history
        self._tx: Transaction | None = None  # the open transaction, if any
        self._pending: dict[bytes, UnverifiedChange] = {}  # hash -> change waiting for deps
        self._waiting: dict[bytes, list[bytes]] = {}  # missing dep -> pending changes on it
        # changes received again that are in the snapshot cut by their seq (SPEC.md 12): a
        # change on one of them is stale, not waiting (insertion order: a failed call
        # drops those it added)
        self._before_cut: dict[bytes, None] = {}
        self._observers: list[Callable[[list[Patch]], None]] = []
        self._change_listeners: list[Callable[[list[Change], str], None]] = []
        self._dirty = False  # the state holds ops of a change that failed verification
        self._clock_for_next: dict[bytes, int] | None = None  # clock of the change being applied
        self._base: Base | None = None  # the snapshot (or checkpoint) the state starts from
        self._deferred: _Deferred | None = None  # history not decoded yet (Doc.load)
        self._saved: _Saved | None = None  # the records the last save or load wrote or read
        self.rejected: list[tuple[UnverifiedChange, CrdtError]] = []
        """Buffered changes found invalid once their deps arrived (kept for inspection)."""

    # ------------------------------------------------------------ reading

    @property
    def heads(self) -> list[bytes]:
        """Hashes of the changes no other change depends on, sorted."""
        return self._history.heads

    @property
    def root(self) -> Map:
        """The root map (a live, dict-like view)."""
        from .containers import Map

        return Map(self, None)

    def __getitem__(self, key: str) -> Any:
        return self.root[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.root[key] = value

    def __contains__(self, key: str) -> bool:
        return key in self.root

    def __delitem__(self, key: str) -> None:
        del self.root[key]

    def __iter__(self) -> Iterator[str]:
        """The root map's keys (``list(doc)`` tried ``doc[0]``, ``doc[1]``, ...)."""
        return iter(self.root)

    def to_py(self) -> dict[str, Any]:
        """The whole document as plain Python: dict, list, str, scalars (counters stay
        :class:`Counter`)."""
        out = self._to_py(None)
        assert isinstance(out, dict)
        return out

    def _to_py(self, obj: ObjId) -> Any:
        return self._opset.to_py(obj)

    def resolve(self, path: SeqABC[str | int]) -> tuple[ObjId, str | int | None]:
        """Walk ``path`` (keys and indexes) to ``(object id, last key)``.

        Every step but the last must name an object; raises :class:`ObjectNotFoundError`.
        """
        obj: ObjId = None
        if not path:
            return None, None
        for k in path[:-1]:
            obj = self._child(obj, k)
        return obj, path[-1]

    def obj_at(self, path: SeqABC[str | int]) -> ObjId:
        """The id of the object at ``path`` (``[]`` is the root)."""
        obj: ObjId = None
        for k in path:
            obj = self._child(obj, k)
        return obj

    def _child(self, obj: ObjId, k: str | int) -> ObjId:
        st = self._opset.objs[obj]
        if st.type == _MAP:
            es = st.data.get(k) if type(k) is str else None
            if not es or type(es[-1][2]) is not ObjType:
                raise ObjectNotFoundError(f"no object at key {k!r}")
            return (es[-1][0], es[-1][1])
        if type(k) is not int or st.type == _TEXT:
            raise ObjectNotFoundError(f"no object at {k!r}")
        seq: Sequence = st.data
        if not -seq.vis <= k < seq.vis:
            raise ObjectNotFoundError(f"index {k} out of range")
        run, off = seq.element_at(k % seq.vis)
        e = run.content[0].entries[-1] if run.reg else (run.ctr + off, run.actor, run.content[off])
        if type(e[2]) is not ObjType:
            raise ObjectNotFoundError(f"no object at index {k}")
        return (e[0], e[1])

    def obj_type(self, obj: ObjId) -> ObjType:
        st = self._opset.objs.get(obj)
        if st is None:
            raise ObjectNotFoundError(f"unknown object {obj!r}")
        return st.type

    def conflicts(self, path: SeqABC[str | int]) -> dict[OpId, Any]:
        """Every concurrent value at ``path`` (a map key or list index), by op id.

        The greatest op id is the visible value.  Objects are returned as their
        :class:`ObjType`; use :meth:`obj_at` with the op id to read them.
        """
        obj, key = self.resolve(path)
        st = self._opset.objs[obj]
        if st.type == _MAP:
            es = st.data.get(key, []) if type(key) is str else []
        else:
            if type(key) is not int:
                raise UsageError("list index must be int")
            seq: Sequence = st.data
            run, off = seq.element_at(key)
            es = (
                run.content[0].entries
                if run.reg
                else [(run.ctr + off, run.actor, run.content[off])]
            )
        return {(e[0], e[1]): e[2] for e in es}

    # ------------------------------------------------------------ transactions

    def begin(self, message: str | None = None, *, time: int | None = None) -> Transaction:
        """Open a transaction explicitly; call :meth:`Transaction.commit` to end it."""
        if self._tx is not None:
            raise TransactionError("a transaction is already open")
        self._tx = Transaction(self, message, time)
        return self._tx

    def transaction(
        self, message: str | None = None, *, time: int | None = None
    ) -> Transaction | Savepoint:
        """``with doc.transaction():`` groups edits into one change.

        Blocks nest: an inner block is a savepoint; if it raises, its own edits are undone
        and the exception propagates.  The outermost block commits on success and rolls
        back everything on an exception.  Its change is sealed (encoded, hashed, put in
        the history) when the history is next read; until then, later blocks may merge
        into it (see ``merge_interval``).  Use :meth:`begin` and
        :meth:`Transaction.commit` to have the :class:`Change` at once.

        Raises:
            UsageError: ``message`` is not a str, or ``time`` not ms in 0..2**63-1.
        """
        tx = self._tx
        if tx is not None:
            return Savepoint(tx)
        # (begin, inlined: a transaction per keystroke pays for every frame)
        tx = self._tx = Transaction(self, message, time)
        return tx

    def commit(self) -> Change | None:
        """Commit the open transaction (opened with :meth:`begin`), if any."""
        if self._tx is None:
            return None
        return self._tx.commit()

    # ------------------------------------------------------------ sealing local commits
    #
    # A change per keystroke is mostly sealing: encoding, hashing and recording the change
    # costs more than the edit.  So a ``with doc.transaction():`` block that commits
    # leaves its ops, counters and time in ``_unsealed``, and they are sealed when
    # anything reads the history (every reader goes through ``_history``) or when
    # SEAL_EVERY changes wait.  Their deps are the heads the history has when the first
    # is sealed, which nothing can change in between, since changing the history means
    # reading it first; each next one is made on the one before.
    #
    # While no one has read them, commits by one actor with no message or fixed time
    # merge into the change waiting before them, as Loro merges a peer's consecutive
    # commits: no one can have named the earlier one, so no one can tell.  The merged
    # change holds their ops in order, with the ids and counters they took, under the
    # first one's start_op and deps and the last one's time: the change a single
    # transaction holding all their edits would have made, but for one thing.
    # ``join_ops`` merges runs at each seam by the transaction's rules, and a
    # transaction merges a delete's groups one at a time, so where a delete's own groups
    # came out of id order a seam may merge REMs that one transaction would have kept
    # apart (the same elements, the same counters: SPEC.md 5.6).  A peer then receives
    # one change, one hash and one set of deps instead of one per keystroke.  Merging
    # stops at a commit more than ``merge_interval`` ms after the first one merged,
    # since a change has one time.  A commit with a message or a fixed time
    # (``transaction(time=)``) is a change of its own, since the caller chose them for
    # it; so is a commit by another actor (which seals the waiting ones first: they are
    # a chain); a document with ``on_change`` listeners seals each commit at once: they
    # are owed the change.

    @property
    def actor(self) -> ActorId:
        """This replica's actor id: the author of the changes it makes from now on.
        Settable, as bytes or hex (``None``: 16 random bytes); a transaction already open
        keeps the actor it began with.

        Raises:
            UsageError: the new actor is not 1..64 bytes, or not bytes or hex.
        """
        return self._actor

    @actor.setter
    def actor(self, actor: bytes | str | None) -> None:
        self._actor = coerce_actor(actor)

    @property
    def merge_interval(self) -> int | None:
        """Local commits within this many ms of the first one waiting merge into one
        change; ``None``: none merge.  Settable."""
        return self._merge_interval

    @merge_interval.setter
    def merge_interval(self, ms: int | None) -> None:
        self._merge_interval = _check_merge_interval(ms)

    @property
    def _history(self) -> History:
        if self._unsealed:
            self._seal()
        return self._hist

    @_history.setter
    def _history(self, h: History) -> None:
        if self._unsealed:
            self._seal()
        self._hist = h

    def _commit_later(self, tx: Transaction, t: int) -> None:
        """Commit ``tx`` (with ops, made at time ``t``) to be sealed later.  O(1) but for
        the ops ``join_ops`` merges at the seam.

        A change may hold at most MAX_CHANGE_BYTES (SPEC.md 7.1, D1): no peer takes a bigger
        one.  A transaction whose ops may take more than half of it (``bound_bytes``, an
        upper bound) is sealed now, as a change of its own, and refused if its bytes are
        over the limit (:meth:`_commit_local`); commits merge only while the bound of the
        merged ops stays under half of it.  The other half is room for the header and the
        deps."""
        u = self._unsealed
        actor = tx.actor
        self._max_op = tx.ctr - 1
        if u:
            last = u[-1]
            if last[5] != actor:  # (the actor changed: the waiting ones are a chain)
                self._seal()
                u = self._unsealed
            else:
                mi = self._merge_interval
                first = last[6]
                if (
                    mi is not None
                    and first is not None
                    and tx.message is None
                    and tx.time is None
                    and first <= t <= first + mi
                    and not tx.heavy
                    # (the merged change's bound: a test of its span, and past that span
                    # one of its ops too, which a keystroke's commit rarely reaches)
                    and (
                        tx.ctr - last[0] <= _MERGE_SPAN
                        or tx.ctr <= self._fit_until
                        or self._merged_fit(last[3], tx, last[0])
                    )
                ):
                    start_op = last[0]
                    ops = last[3]  # (a list no one else holds: its transaction ended)
                    new = tx.ops
                    op = new[0]
                    prev = ops[-1]
                    ref = op[2]
                    if (
                        len(new) == 1
                        and op[0] == INS
                        and prev[0] == INS
                        and op[1] == prev[1]
                        and ref is not None
                        and ref[0] == tx.start_op - 1
                        and ref[1] == actor
                    ):  # a keystroke that goes on typing: join_ops, inline
                        # (and op.extend_ins, inline: the op's str grows in place)
                        ops[-1] = NO_OP
                        pref = prev[2]
                        s = prev[3]
                        del prev
                        s += op[3]
                        ops[-1] = (INS, op[1], pref, s)
                    else:
                        join_ops(ops, new, tx.start_op, actor)
                    u[-1] = (start_op, t, None, ops, tx.ctr - start_op, actor, first)
                    return
        if tx.heavy or tx.ctr - tx.start_op > _SMALL_SPAN:
            # (a big edit, or one with long strings, a list's values or long pred lists:
            # rare, and it merged into nothing above)
            self._commit_big(tx, t)
            return
        # (a message or a fixed time is the caller's for this change: nothing merges in)
        first = t if tx.message is None and tx.time is None else None
        u.append((tx.start_op, t, tx.message, tx.ops, tx.ctr - tx.start_op, actor, first))
        if len(u) >= SEAL_EVERY:
            self._seal()

    def _merged_fit(self, ops: list[Op], tx: Transaction, start_op: int) -> bool:
        """Whether the waiting change with ``ops`` from ``start_op``, with ``tx``'s merged
        in, stays under half a change's limit: ``bound_bytes`` of the merged ops (nothing
        in them is heavy).  If it would with _FIT_AHEAD more counters, each an op, the
        next commits up to those counters merge without asking (``_fit_until``): a typist
        past _MERGE_SPAN asks once in _FIT_AHEAD keystrokes.  O(1)."""
        half = _change.MAX_CHANGE_BYTES // 2
        n_ops = len(ops) + len(tx.ops)
        span = tx.ctr - start_op
        if wire_bound(n_ops + _FIT_AHEAD, span + _FIT_AHEAD) <= half:
            self._fit_until = tx.ctr + _FIT_AHEAD
            return True
        return wire_bound(n_ops, span) <= half

    def _commit_big(self, tx: Transaction, t: int) -> None:
        """Commit ``tx``, which may be big (``_commit_later``): sealed now and refused if
        its change is over the limit, if its ops may take more than half of it
        (``bound_bytes``); else left to be sealed later, the start of a change of its own
        (later commits merge into it as ``_commit_later`` says, unless it is heavy)."""
        if bound_bytes(tx) > _change.MAX_CHANGE_BYTES // 2:
            if self._unsealed:
                self._seal()
            self._commit_local(tx, t)  # (its size exact: refused if over the limit)
            return
        u = self._unsealed  # (the caller sealed the waiting ones of another actor)
        # (later commits may merge into a big one while the merged span is bounded; not
        # into a heavy one, whose bound the span does not give)
        free = not tx.heavy and tx.message is None and tx.time is None
        u.append(
            (
                tx.start_op,
                t,
                tx.message,
                tx.ops,
                tx.ctr - tx.start_op,
                tx.actor,
                t if free else None,
            )
        )
        if len(u) >= SEAL_EVERY:
            self._seal()

    def _seal(self) -> None:
        """Seal the waiting local commits into changes, in the history.  O(their ops)."""
        u = self._unsealed
        h = self._hist
        # the first one is made on the heads, whatever they are; each next one on it
        start_op, t, msg, ops, n, actor, _ = u[0]
        heads_idx, deps = self._local_deps(h)
        seq = h.seq_of(actor) + 1
        raw, hsh = encode_change(actor, seq, start_op, t, msg, deps, ops)
        first = Change(actor, seq, start_op, t, msg, deps, ops, raw, hsh, n)
        raws, hashes = encode_chain(actor, seq + 1, hsh, u[1:])
        # (nothing above changed the document: encoding cannot fail on committed ops)
        self._unsealed = []
        i = h.add(first, heads_idx, True)
        h.add_run(i, actor, hashes, raws, [e[0] for e in u[1:]], [e[4] for e in u[1:]])

    def _local_deps(self, h: History) -> tuple[tuple[int, ...], tuple[bytes, ...]]:
        """The change numbers and hashes a local change made now depends on."""
        heads = h.heads_idx()
        if len(heads) == 1:
            ((i, hsh),) = heads.items()
            return (i,), (hsh,)
        if not heads and self._base is not None:
            return (), tuple(sorted(self._base.heads))  # the first change after a cut
        heads_idx = tuple(sorted(heads, key=heads.__getitem__))
        return heads_idx, tuple([heads[i] for i in heads_idx])

    def _commit_local(self, tx: Transaction, t: int) -> Change:
        h = self._history  # (seals the commits before this one)
        heads_idx, deps = self._local_deps(h)
        actor = tx.actor  # (the document's actor may have changed since the ops were made)
        seq = h.seq_of(actor) + 1
        start_op = tx.start_op
        raw, hsh = encode_change(actor, seq, start_op, t, tx.message, deps, tx.ops)
        if len(raw) > _change.MAX_CHANGE_BYTES:
            # no peer would take it, nor this document from its own saved history: the
            # transaction is refused (it has ended: its ops leave the state by a rebuild)
            self._rebuild()
            raise UsageError(
                f"the transaction's change takes {len(raw):,} bytes, over the "
                f"{_change.MAX_CHANGE_BYTES:,} a change may hold (SPEC.md 7.1, D1): split the "
                "edit over several transactions"
            )
        c = Change(actor, seq, start_op, t, tx.message, deps, tx.ops, raw, hsh, tx.ctr - start_op)
        h.add(c, heads_idx, True)  # made on every head
        self._max_op = tx.ctr - 1
        if self._change_listeners:
            error = _tell_all(self._change_listeners, [c], "local")
            if error is not None:
                raise error
        return c

    def _rebuild(self, tx: Transaction | None = None) -> None:
        """Recompute the state from the history (and ``tx``'s ops).  O(history).

        Used to undo: a rolled-back transaction or a batch of remote changes that failed
        verification part-way.  Correct by construction, since it is a plain replay.
        """
        h = self._history
        opset = OpSet() if self._base is None else decode_snapshot(self._base.snapshot)[0]
        for raw in h.raws():
            c = decode_change(raw)
            ctr = c.start_op
            for op in c.ops:
                opset.apply(op, ctr, c.actor)
                ctr += op_size(op)
        self._max_op = h.max_op()
        if tx is not None:
            ctr = tx.start_op
            for op in tx.ops:
                opset.apply(op, ctr, tx.actor)
                ctr += op_size(op)
        self._opset = opset

    # ------------------------------------------------------------ remote changes

    def apply_changes(self, changes: Iterable[bytes | UnverifiedChange]) -> list[Change]:
        """Apply remote changes (encoded bytes or decoded), in any order.

        Known changes are skipped; changes whose dependencies are missing wait in a
        bounded buffer until they arrive.  Every change is verified before it touches the
        state (SPEC.md "Validity of a change").  All or nothing: if any change is invalid,
        the document is left exactly as it was and the error is raised.

        Returns the changes applied by this call, in the order applied.
        """
        if self._tx is not None:
            raise TransactionError("commit or roll back the open transaction first")
        changes = list(changes)
        # Bulk applies allocate many long-lived containers; the cyclic GC would rescan them
        # again and again for nothing (10-20% of the time), so it pauses for big batches.
        # (a small one enters no pause at all: a change at a time, as a live peer sends
        # them, pays no context manager's frames: 9K instructions a call)
        if (
            len(changes) > GC_PAUSE_BATCH
            or sum([len(c) for c in changes if type(c) is bytes]) > GC_PAUSE_BYTES
        ):
            with gc_paused():
                return self._apply_or_materialise(changes)
        return self._apply_or_materialise(changes)

    def _apply_or_materialise(self, changes: list[bytes | UnverifiedChange]) -> list[Change]:
        try:
            return self._apply_changes(changes)
        except _NeedHistory:
            # a change needs facts from before a lazily loaded checkpoint; the call has
            # been undone: decode the saved history and run it again
            self._materialise()
            return self._apply_changes(changes)

    def _apply_changes(self, changes: list[bytes | UnverifiedChange]) -> list[Change]:
        # Changes are decoded one at a time, just before they are applied: decoding a
        # big batch up front kept every decoded change alive at once (~1 KB each: 260 MB
        # for the paper trace's 260K changes).  A malformed change late in the batch is
        # found after earlier ones were applied, and undone with them.
        todo: list[bytes | UnverifiedChange] = changes
        # A lazily loaded document asks, of each change the general path takes, whether it
        # reaches behind the checkpoint (then the call is undone, the history decoded and
        # the call run again); the fast path takes only changes on deps in the history,
        # which all descend from the checkpoint, and needs no asking.
        deferred = self._deferred is not None
        h = self._history
        mark = len(h)
        pending_before = dict(self._pending)
        rejected_before = len(self.rejected)
        before_cut = len(self._before_cut)
        applied: list[Change] = []
        observed = bool(self._observers)
        if observed:
            self._opset.patches = []
            self._opset.paths.clear()  # (local edits since the last call may have moved any)
        try:
            batch = _CallHashes(changes)
            heads = h.heads_idx()
            receive = self._receive
            verified = self._apply_verified
            seq_of = h.seq_of
            app = applied.append
            linear = self._base is None
            # (the fast path takes a document loaded from a snapshot or a saved document
            # too: it resolves deps in the history only, so what it takes descends from
            # the cut; and an observed one, telling the patches the general path would)
            decode = decode_change_wire
            k = 0
            n = len(todo)
            while True:  # (not "while k < n": see the loop of apply_fast)
                if k >= n:
                    break
                if not self._pending:
                    # a peer's typing: one-op changes, each on a head (crdt.fastpath)
                    self._dirty = True  # (from its first edit; undone if it raises)
                    k = apply_fast(self, todo, k, applied)
                    self._dirty = False
                    if k == n:
                        break
                c = todo[k]
                k += 1
                if isinstance(c, UnverifiedChange):
                    u, wire = c, None
                else:
                    u, wire = decode(c)
                if deferred and self._reaches_before_cut(u.hash, u.deps, batch):
                    raise _NeedHistory
                # a change made on this document's only head: it cannot be known or
                # waiting, and its causal past is everything here
                if linear and len(heads) == 1 and len(u.deps) == 1 and not self._pending:
                    ((i, head),) = heads.items()
                    if u.deps[0] == head:
                        app(verified(u, (i,), seq_of(u.actor), True, wire))
                        continue
                receive(u, applied, batch, wire)
            if len(self._pending) > MAX_PENDING:
                raise MissingDependencyError(
                    f"{len(self._pending)} changes wait for missing dependencies "
                    f"(limit {MAX_PENDING})"
                )
        except BaseException:
            if len(self._history) != mark or self._dirty:
                self._history.truncate(mark)
                self._rebuild()
                self._dirty = False
            # (after the truncation: a dep the call applied and undid is missing again,
            # and a change buffered before the call must wait for it again)
            self._pending = pending_before
            self._waiting = _waiting_index(pending_before, self._history.index, self._base)
            del self.rejected[rejected_before:]  # (buffered again: judged when it drains)
            if len(self._before_cut) != before_cut:
                for hsh in list(self._before_cut)[before_cut:]:
                    del self._before_cut[hsh]
            self._opset.patches = None
            raise
        # every listener and observer is told, whatever another one does: one that raises
        # must not leave the others behind for good (a view that misses patches, a log
        # that misses changes); the first error is raised after them all, the changes
        # staying applied
        error: Exception | None = None
        if applied and self._change_listeners:
            error = _tell_all(self._change_listeners, applied, "remote")
        if observed:
            events = self._opset.patches or []
            self._opset.patches = None
            if events:
                # (an op on an object no longer in the document told no patch: path_of)
                observers = list(self._observers)
                for cb in observers:
                    # (each its own list: one that changes it does not change the others')
                    told = _tell_all([cb], events if len(observers) == 1 else list(events))
                    error = error or told
        if error is not None:
            raise error
        return applied

    def _reaches_before_cut(self, hsh: bytes, deps: SeqABC[bytes], call: _CallHashes) -> bool:
        """Whether a lazily loaded document needs its saved history for change ``hsh``
        on ``deps``, which the general path is about to take: a change that is not a
        descendant of the checkpoint's heads (it may depend on, or be, a change from
        before them).  A dep that is neither a checkpoint head nor in the history must be
        a change of this call (``call``), asked about in its turn.  O(deps); the call's
        hashes are computed only if a dep is in neither (a change before its deps)."""
        cut = self._base
        assert cut is not None
        if hsh in cut.heads:
            return False
        index = self._history.index
        named = 0
        later = False
        for d in deps:
            if d in cut.heads:
                named += 1
            elif d in index or d in call:
                later = True  # asked about already (the history) or in its turn (the call)
            else:
                return True
        return not later and named != len(cut.heads)

    def _receive(
        self,
        u: UnverifiedChange,
        applied: list[Change],
        batch: _CallHashes,
        wire: list[Any] | None = None,
    ) -> None:
        h = self._history
        index = h.index
        # a seq beyond the author's last one cannot be known yet: only the others need the
        # (possibly O(log n)) hash lookup
        known = h.seq_of(u.actor)
        if (u.seq <= known and u.hash in index) or u.hash in self._pending:
            return
        base = self._base
        if base is not None and u.hash in base.heads:
            # a head of the snapshot cut (or of a lazy load's checkpoint): this document has
            # it, though its deps (before the cut, or in a history not decoded) are not
            # in the index; buffered, it waited for them for good
            return
        if base is not None and u.seq <= base.clock.get(u.actor, 0) and self._deferred is None:
            # in the snapshot cut by its seq: a change from before the cut, received again
            # (a peer that does not know these heads sends its whole history), which this
            # document holds in its state but not by hash.  A duplicate: skipped, as a
            # head of the cut is (buffered, it waited for its own deps for good; on no
            # deps, it was stale and failed the call).  What waits for it is stale.
            if u.hash not in self._before_cut:
                self._before_cut[u.hash] = None
                if u.hash in self._waiting:
                    self._stale_waiting(u.hash, batch)
            return
        get = h.number
        deps = u.deps
        if len(deps) == 1:
            d0 = get(deps[0])
            dep_idx: tuple[int, ...] | None = None if d0 is None else (d0,)
        else:
            nums = tuple([get(d) for d in deps])
            dep_idx = None if None in nums else nums  # type: ignore[assignment]
        if dep_idx is None or base is not None:
            missing = [d for d in deps if get(d) is None and (base is None or d not in base.heads)]
            if missing:
                if self._before_cut and any([d in self._before_cut for d in missing]):
                    raise StaleChangeError(
                        f"change {u.hash.hex()[:12]} is on a change before the snapshot cut, "
                        "and so does not have the whole cut in its causal past"
                    )
                self._pending[u.hash] = u
                waiting = self._waiting
                for d in missing:
                    waiting.setdefault(d, []).append(u.hash)
                return
            dep_idx = None  # a change on the snapshot cut: _apply_verified sorts it out
        c = self._apply_verified(u, dep_idx, known, False, wire)
        applied.append(c)
        if self._pending:
            self._drain(c.hash, applied, batch)

    def _stale_waiting(self, before: bytes, batch: _CallHashes) -> None:
        """The buffered changes that wait for ``before``, a change found to be before the
        snapshot cut, and those that wait for them: stale (SPEC.md 12).  One of this call
        fails it, with nothing changed; one of an earlier call is dropped into
        :attr:`rejected`.  O(changes dropped)."""
        stack = [before]
        while stack:
            for hsh in self._waiting.pop(stack.pop(), ()):
                u = self._pending.pop(hsh, None)
                if u is None:
                    continue  # (dropped already, by another dep)
                exc = StaleChangeError(
                    f"change {hsh.hex()[:12]} is on a change before the snapshot cut, and "
                    "so does not have the whole cut in its causal past"
                )
                if hsh in batch:
                    raise exc
                self.rejected.append((u, exc))
                stack.append(hsh)

    def _drain(self, arrived: bytes, applied: list[Change], batch: _CallHashes) -> None:
        """Apply buffered changes that waited for ``arrived`` and now have every dep.

        Only the changes waiting on a hash that just arrived are looked at, so delivering n
        changes in any order costs O(n) here, not O(n * pending).  A buffered change from an
        earlier call that turns out invalid is dropped into :attr:`rejected` (it must not
        block the valid changes that completed it); one from the current call fails the
        call as a whole.
        """
        pending = self._pending
        waiting = self._waiting
        index = self._history.index
        base_heads = self._base.heads if self._base is not None else {}
        stack = [arrived]
        while stack:
            for hsh in waiting.pop(stack.pop(), ()):
                u = pending.get(hsh)
                if u is None or not all(d in index or d in base_heads for d in u.deps):
                    continue  # already applied, or still waits for another dep
                del pending[hsh]
                patches = self._opset.patches
                told = 0 if patches is None else len(patches)
                try:
                    applied.append(self._apply_verified(u))
                except InvalidChangeError as exc:
                    if hsh in batch:
                        raise
                    if self._dirty:
                        self._rebuild()
                        self._dirty = False
                        # the rebuilt state has a new OpSet: it goes on collecting into
                        # the call's patches, less those of the rejected change's ops
                        if patches is not None:
                            del patches[told:]
                            self._opset.patches = patches
                    self.rejected.append((u, exc))
                    continue
                stack.append(hsh)

    def _apply_verified(
        self,
        u: UnverifiedChange,
        dep_idx: tuple[int, ...] | None = None,
        known_seq: int | None = None,
        at_heads: bool = False,
        wire: list[Any] | None = None,
    ) -> Change:
        """Verify ``u`` against the history and state, op by op, and apply it.

        Each op is checked just before it is applied (so references to elements and
        objects made earlier in the same change resolve naturally).  On an invalid op the
        state is left half-applied and ``self._dirty`` is set: the caller
        (:meth:`apply_changes`) rebuilds it from the history, which does not have ``u``.
        ``dep_idx`` are the change numbers of its deps and ``known_seq`` the author's last
        seq here, if the caller looked them up; ``at_heads`` says the deps are this
        document's heads, if the caller knows; ``wire``: its ops as unpacked, if the
        caller has them (:func:`~crdt.change.decode_change_wire`).
        """
        h = self._history
        index = h.index
        deps = u.deps
        base = self._base
        base_end = 0  # greatest counter among the cut heads this change names
        if dep_idx is None and base is None:
            dep_idx = h.numbers(deps)
        elif dep_idx is None:
            assert base is not None
            dep_idx = h.numbers([d for d in deps if d in index])
            named = [d for d in deps if d in base.heads]
            if not dep_idx and len(named) != len(base.heads):
                raise StaleChangeError(
                    f"change {u.hash.hex()[:12]} does not have the whole snapshot cut in its "
                    "causal past"
                )
            base_end = max((base.end_op(d) for d in named), default=0)
        actor = u.actor
        if known_seq is None:
            known_seq = h.seq_of(actor)
        if u.seq <= known_seq:
            raise DuplicateSeqError(
                f"actor {actor.hex()} already has seq {u.seq} (a different change)"
            )
        if u.seq != known_seq + 1:
            raise InvalidChangeError(
                f"seq {u.seq} of actor {actor.hex()} skips (last known {known_seq})"
            )
        start, n_ops = h.start, h.n_ops
        expect = base_end + 1
        for i in dep_idx:
            e = start[i] + n_ops[i]
            if e > expect:
                expect = e
        start_op = u.start_op
        if start_op != expect:
            raise InvalidChangeError(
                f"start_op {start_op} is not one more than the deps' last op ({expect - 1})"
            )
        # the author's previous change is in the causal past (checked in full after the
        # ops, with the rest of the past), so its ops come before this change's: tested
        # here, before any op, or a change on a past without it takes its ids again (one
        # before a snapshot cut needs no test: a change without the whole cut in its past
        # is stale, one with it starts after every op of the cut)
        own = h.by_actor.get(actor)
        if own is not None:
            last = own[-1]
            if start_op < start[last] + n_ops[last]:
                raise InvalidChangeError("the author's previous change is not in the causal past")
        opset = self._opset
        objs = opset.objs
        apply = opset.apply
        direct = opset.patches is None  # sequence ops go straight to the sequence
        refs: list[OpId] = []  # existing ops of earlier changes this change names
        preds: list[OpId] = []  # pred ids of earlier changes (may name any op)
        ctr = start_op
        lazy = self._deferred is not None
        self._dirty = True
        last_obj: Any = None  # the object of the op before, checked (decoding shares it)
        last_st: Any = None
        ops = u.ops
        numbered = enumerate(ops)
        for i, op in numbered:
            a = op[0]
            obj = op[1]
            if obj is None:
                t = _MAP
                st = objs[None]
            elif obj is last_obj:
                st = last_st
                t = st.type
            else:
                st = objs.get(obj)  # type: ignore[assignment]
                if st is None or obj[0] >= ctr:
                    raise InvalidChangeError(f"op {ctr} targets unknown object {obj!r}")
                if obj[1] != actor or obj[0] < start_op:
                    refs.append(obj)
                t = st.type
                last_obj = obj
                last_st = st
            size = 1
            if a == INS or a == INS_MAKE:
                if a == INS:
                    size = len(op[3])
                    if t != (_TEXT if type(op[3]) is str else _LIST):
                        raise InvalidChangeError(f"op {ctr}: wrong content for a {t.name.lower()}")
                elif t != _LIST:
                    raise InvalidChangeError(f"op {ctr}: object insert into a {t.name.lower()}")
                ref = op[2]
                found = None
                if ref is not None:
                    rc, ra = ref
                    if rc >= ctr or (found := st.data.find(rc, ra)) is None:
                        raise InvalidChangeError(f"op {ctr}: unknown element {rc}@{ra.hex()}")
                    if ra != actor or rc < start_op:
                        refs.append(ref)
                if direct and a == INS:
                    if ref is None and can_fill(st.data):
                        # (the fill reads the ops as unpacked: the checks above hold)
                        if wire is None:  # (a change that waited, or given decoded)
                            wire = unpack(u.raw)[8]
                        plan = gather(wire, i, stretch(ops, i), ctr, st.data.is_text)
                        if plan is not None:
                            fill(st.data, plan, actor)
                            ctr = plan.end
                            # the ops it took after this one: consumed in C
                            next(islice(numbered, plan.took - 1, plan.took - 1), None)
                            continue
                    st.data.integrate_insert(ref, ctr, actor, op[3], found)
                    ctr += size
                    continue
            elif a == REM:
                if t == _MAP:
                    raise InvalidChangeError(f"op {ctr}: remove from a map")
                size = op[3]
                ec, ea = op[2]
                end = ec + size
                if end > ctr:
                    raise InvalidChangeError(f"op {ctr}: removes elements not before it")
                seq: Sequence = st.data
                e = ec
                first = None
                while e < end:
                    run = seq.find(e, ea)
                    if run is None:
                        raise InvalidChangeError(f"op {ctr}: unknown element {e}@{ea.hex()}")
                    if first is None:
                        first = run
                    stop = run.ctr + run.n
                    last = (stop if stop < end else end) - 1
                    # an actor's changes form a chain: if the change holding the last
                    # element of this stretch is in the causal past, so are the earlier ones
                    if ea != actor or last < start_op:
                        refs.append((last, ea))
                    e = stop
                if direct:
                    seq.remote_delete(ec, ea, size, False, first)
                    ctr += size
                    continue
            else:
                key = op[2]
                if type(key) is str:
                    if t != _MAP:
                        raise InvalidChangeError(f"op {ctr}: map key on a {t.name.lower()}")
                else:
                    if t != _LIST:
                        raise InvalidChangeError(f"op {ctr}: element op on a {t.name.lower()}")
                    kc, ka = key
                    if kc >= ctr or st.data.find(kc, ka) is None:
                        raise InvalidChangeError(f"op {ctr}: unknown element {kc}@{ka.hex()}")
                    if ka != actor or kc < start_op:
                        refs.append(key)
                for p in op[-1]:
                    if p[0] >= ctr:
                        raise InvalidChangeError(f"op {ctr}: pred {p!r} is not before it")
                    if p[1] != actor or p[0] < start_op:
                        preds.append(p)
                        # a checkpoint knows the live value ops, not every past op: a pred
                        # naming another one from before it is checked with the history
                        if lazy and not _holds(st, key, p) and h.change_of(*p) is None:
                            raise _NeedHistory
            apply(op, ctr, actor)
            ctr += size
        if not at_heads:
            heads = h.heads_idx()
            at_heads = len(dep_idx) == len(heads) and all(i in heads for i in dep_idx)
        self._clock_for_next = None
        if preds or not at_heads:
            self._check_causality(u, dep_idx, known_seq, refs, preds)
        u.__class__ = Change  # verified: the same object, now trusted
        assert isinstance(u, Change)
        u._ops = None  # applied: the state holds them (see Change)
        i = h.add(u, dep_idx, at_heads)
        if self._clock_for_next is not None:
            h.remember(i, self._clock_for_next)
        end_op = ctr - 1  # the change's last op
        if end_op > self._max_op:
            self._max_op = end_op
        self._dirty = False
        return u

    def _check_causality(
        self,
        u: UnverifiedChange,
        dep_idx: tuple[int, ...],
        known_seq: int,
        refs: list[OpId],
        preds: list[OpId],
    ) -> None:
        """Every referenced op, and the author's previous change, must be in the causal
        past of ``u`` (SPEC "Validity" rule 7)."""
        h = self._history
        base = self._base
        for pc, pa in preds:
            if h.change_of(pc, pa) is None and (base is None or pc > base.max_op.get(pa, 0)):
                raise InvalidChangeError(f"pred {pc}@{pa.hex()} names no known op")
        heads = h.heads_idx()
        if len(dep_idx) == len(heads) and all(i in heads for i in dep_idx):
            return  # the causal past is everything this document has
        actor = u.actor
        # ops of the snapshot cut are in every accepted change's past (StaleChangeError
        # rejects the others); only ops of later changes need the clock
        if base is not None:
            refs = [r for r in refs if h.change_of(r[0], r[1]) is not None]
            preds = [p for p in preds if h.change_of(p[0], p[1]) is not None]
        own = h.by_actor.get(actor)
        # first without a clock: a change numbered below the deps' ``covered`` prefix is in
        # the past, and so is a dep (two peers typing at once name their own last change
        # and merged ops)
        if h.shown_past(actor, dep_idx, refs + preds if preds else refs):
            return  # (without a clock: the two peers typing at once of most histories)
        clock = h.clock(dep_idx)  # (a new dict: it becomes this change's own clock below)
        if own is not None and clock.get(actor, 0) < known_seq:
            raise InvalidChangeError("the author's previous change is not in the causal past")
        for fc, fa in refs + preds:
            if fa == actor:
                # the author's own op of an earlier change (it exists: checked before):
                # its changes form a chain, and the last one is in the past
                continue
            ci = h.change_of(fc, fa)
            if ci is None or clock.get(fa, 0) < h.seq_number(ci):
                raise InvalidChangeError(
                    f"reference {fc}@{fa.hex()} is not in the change's causal past"
                )
        # this change's own clock, kept so that later walks stop here
        clock[actor] = known_seq + 1
        self._clock_for_next = clock

    @property
    def pending(self) -> int:
        """How many received changes wait for missing dependencies."""
        return len(self._pending)

    def missing_deps(self) -> list[bytes]:
        """Hashes that buffered changes depend on and this document lacks."""
        idx = self._history.index
        out = {d for u in self._pending.values() for d in u.deps if d not in idx}
        return sorted(out - set(self._pending))

    # ------------------------------------------------------------ history access

    def get_changes(self, since_heads: Iterable[bytes] = ()) -> list[bytes]:
        """Encoded changes not in the causal past of ``since_heads``, in causal order.

        Unknown hashes in ``since_heads`` are ignored (the other side is ahead there).
        """
        if self._deferred is not None:
            since_heads = set(since_heads)
            assert self._base is not None
            if not since_heads.issuperset(self._base.heads):
                self._materialise()
        h = self._history
        found = [h.number(x) for x in since_heads]
        known = [i for i in found if i is not None]
        if not known:
            return h.raws()
        if set(known) == h.heads_idx().keys():
            return []
        past = h.ancestors(known)
        return [h.raw_at(i) for i in range(len(h)) if i not in past]

    def get_change(self, hsh: bytes) -> bytes:
        """The encoded change named ``hsh``; :class:`UsageError` if this document lacks it."""
        if self._history.index.get(hsh) is None:
            self._need_history()
        i = self._history.index.get(hsh)
        if i is None:
            raise UsageError(f"unknown change {hsh.hex()}")
        return self._history.raw_at(i)

    def has_change(self, hsh: bytes) -> bool:
        """Whether this document holds the change named ``hsh``: in its history, or a
        head of the snapshot cut it was loaded from (SPEC.md 12), whose deps it does not
        know by hash."""
        if hsh in self._history.index:
            return True
        if self._base is not None and hsh in self._base.heads:
            return True  # (of a lazy load's checkpoint, too)
        if self._deferred is not None:
            self._materialise()  # (its base is now the snapshot its history starts after)
            return self.has_change(hsh)
        return False

    def change_count(self) -> int:
        """How many changes the history holds.  O(1)."""
        n = len(self._history)
        return n + self._deferred.n if self._deferred is not None else n

    def fork(self, actor: bytes | str | None = None) -> Doc:
        """A new document with the same history, state and buffered changes, and a new
        actor.  Copies the state directly (O(history + state)), no replay."""
        if self._tx is not None:
            raise TransactionError("commit or roll back the open transaction before forking")
        d = Doc(actor, clock=self._clock, merge_interval=self._merge_interval)
        d._history = self._history.copy()
        d._opset = self._opset.copy()
        d._max_op = self._max_op
        d._base = self._base
        d._deferred = self._deferred  # immutable: shared
        d._saved = self._saved  # (immutable too; checked against the fork's own history)
        d._pending = dict(self._pending)
        d._waiting = {k: list(v) for k, v in self._waiting.items()}
        d._before_cut = dict(self._before_cut)
        return d

    def merge(self, other: Doc) -> list[Change]:
        """Apply every change ``other`` has that this document lacks.

        An actor's changes form a chain, and a change's hash covers its whole causal past,
        so per actor it is enough to compare the last change this document has: if
        ``other`` has the same one there, exactly its later changes are missing here.
        O(actors + changes sent), not O(history).
        """
        if not isinstance(other, Doc):
            raise UsageError(f"merge takes a Doc, not {type(other).__name__}")
        other._need_history()
        self._need_history()
        mine = self._history
        oh = other._history
        send: list[int] = []
        for a, nums in oh.by_actor.items():
            skipped = oh.base.clock.get(a, 0) if oh.base is not None else 0
            have = mine.seq_of(a)  # this actor's changes here: seqs 1..have
            k = have - skipped  # how many of ``nums`` those are
            # compare the last change of the actor both should hold
            j = min(k, len(nums))
            if j > 0 and oh.hash_at(nums[j - 1]) != mine.change_at_seq(a, skipped + j):
                k = 0  # the chains differ: send them all (apply_changes refuses the forks)
            elif k >= len(nums):
                continue
            send.extend(nums[max(k, 0) :])
        send.sort()  # change numbers: the order ``other`` applied them, a causal order
        return self.apply_changes([oh.raw_at(i) for i in send])

    # ------------------------------------------------------------ save / load

    def save(self) -> bytes:
        """The document in one compact byte string: its full history and a checkpoint of
        its state (SPEC.md section 8).

        Changes are stored as compact records (deps as back-references, hashes left out and
        recomputed on load; SPEC.md 13.5).  A document loaded from a snapshot saves that
        snapshot plus every later change.  The checkpoint is the state at the heads with its
        tombstones (SPEC.md 12), so :meth:`load` need not replay the history.

        The history's records are kept from the last save, or from :meth:`load`: a save
        writes them again as they were, plus one record of the changes made or received
        since, so it costs O(state + those changes).  Decoding and encoding the whole
        history again took O(history): 6.9 s to save a history of 260K changes that
        loaded in 37 ms, 3.1 s to save it again after one edit.  The new record takes in
        the records before it while the last of them holds at most twice its changes (a
        binary counter's carries): each record holds more than twice the changes of the
        next, so a history of n changes takes at most log2(n) + 1 records this way, and
        each change is encoded O(log n) times over all the saves.  So the bytes depend on
        how the history was saved before, not only on the history; saving the same
        document twice gives the same bytes.
        """
        if self._tx is not None:
            raise TransactionError("commit or roll back the open transaction before saving")
        with gc_paused():  # (a burst of containers: crdt.gcpause)
            sv = self._saved
            h = self._history
            base = self._base
            if sv is not None and not (
                sv.base is base and sv.n <= len(h) and (sv.n == 0 or h.hash_at(sv.n - 1) == sv.last)
            ):
                sv = None  # (not this history's first changes: never, but for a bug)
            if sv is not None:
                records = list(sv.records)
                snap, covered = sv.snap, sv.n
            else:
                # (a lazily loaded document always has its records: set by load and save)
                assert self._deferred is None
                records = []
                snap, covered = (base.snapshot if base is not None else None), 0
            new = len(h) - covered
            if new or not records:
                merged = new  # changes the new record holds: these, and the records it takes
                while records and records[-1][1] <= 2 * merged:
                    merged += records.pop()[1]
                trusted = True
                if merged <= len(h):
                    todo = [(h.raw_at(i), h.hash_at(i)) for i in range(len(h) - merged, len(h))]
                else:
                    # it takes in records of a history still encoded (a lazy load's): those
                    # records alone are decoded (not checked against the heads: saving
                    # checks no history), then come every change since the load
                    dfr = self._deferred
                    assert dfr is not None and records == list(dfr.records[: len(records)])
                    todo = [it[:2] for it in _history_items(dfr.records[len(records) :])]
                    todo += [(h.raw_at(i), h.hash_at(i)) for i in range(len(h))]
                    trusted = False  # (a change kept verbatim stays so)
                # a scope of its own: deps on changes of earlier records are hashes, and
                # each author's seq before the record is the one before its first change
                payload = Scope().encode(todo, trusted=trusted, derive_bases=True)
                records.append((zlib.compress(msgpack.packb(payload), 6), merged))
            dfr = self._deferred  # (its changes come before h's)
            n = len(h) + (dfr.n if dfr is not None else 0)
            checkpoint = zlib.compress(encode_snapshot(self, tombstones=True), 6)
            last = h.hash_at(len(h) - 1) if len(h) else None
            self._saved = _Saved(tuple(records), snap, len(h), last, base)
        fields = [self.heads, snap, [[k, r] for r, k in records], checkpoint, n]
        packed: bytes = msgpack.packb([SAVE_VERSION, *fields, _checksum(fields)])
        return SAVE_MAGIC + packed

    @classmethod
    def load(
        cls,
        data: bytes,
        actor: bytes | str | None = None,
        *,
        clock: Callable[[], int] | None = None,
        verify: bool = False,
        merge_interval: int | None = MERGE_INTERVAL,
    ) -> Doc:
        """Load :meth:`save` output.

        The state comes from the saved checkpoint, so loading costs O(state), not
        O(history).  The history stays encoded until a call needs it (:meth:`get_changes`
        from before the save, :meth:`merge`, or a remote change that is not a descendant of
        the saved heads; :meth:`save` keeps it encoded); it is then decoded once and its
        hashes are checked against the saved heads (:class:`DecodeError` or
        :class:`HashMismatchError` from that call if the file was damaged; the document
        stays usable as it was).

        Args:
            verify: replay the whole history now, verifying every change as
                :meth:`apply_changes` does, and check that it ends in the saved checkpoint.
                O(history); raises instead of deferring.
            actor, clock, merge_interval: as for :class:`Doc` (none of them is saved).

        Documents saved in format 3 (the history as one record) load as format 4 does;
        documents saved in format 2 (history only) load by replaying it.
        """
        mi = _check_merge_interval(merge_interval)  # (before any work)
        doc = cls._load(data, actor, clock, verify)
        doc._merge_interval = mi
        return doc

    @classmethod
    def _load(
        cls,
        data: bytes,
        actor: bytes | str | None,
        clock: Callable[[], int] | None,
        verify: bool,
    ) -> Doc:
        top = unpack_framed(data, SAVE_MAGIC, "saved document")
        if type(top) is list and len(top) == 4 and top[0] == 2:
            _, heads, snap, body = top
            return cls._replay(heads, snap, _records(body, 2, None), actor, clock)
        if type(top) is not list or len(top) != 7 or top[0] not in (3, SAVE_VERSION):
            raise DecodeError("unknown saved document layout or version")
        _, heads, snap, body, checkpoint, n, check = top
        if type(check) is not int or check != _checksum(top[1:6]):
            raise DecodeError("saved document checksum mismatch (damaged file)")
        if type(heads) is not list or type(checkpoint) is not bytes or type(n) is not int or n < 0:
            raise DecodeError("saved document fields have wrong types")
        records = _records(body, top[0], n)
        if snap is not None and type(snap) is not bytes:
            raise DecodeError("saved snapshot is not bytes")
        state = _inflate(checkpoint, "saved checkpoint")
        opset, cut = decode_snapshot(state)
        if sorted(cut.heads) != heads:
            raise HashMismatchError("the saved checkpoint is not at the saved heads")
        if verify:
            doc = cls._replay(heads, snap, records, actor, clock)
            if not _same_state(doc, opset, cut, snap is None):
                raise HashMismatchError("the saved checkpoint does not match the saved history")
            return doc
        doc = cls(actor, clock=clock)
        doc._opset = opset
        doc._base = cut
        doc._history.base = cut
        doc._max_op = doc._history.max_op()
        doc._deferred = _Deferred(records, snap, n)
        doc._saved = _Saved(records, snap, 0, None, cut)  # (0 of h's: none since the load)
        return doc

    @classmethod
    def _replay(
        cls,
        heads: Any,
        snap: Any,
        records: tuple[Record, ...],
        actor: bytes | str | None,
        clock: Callable[[], int] | None,
    ) -> Doc:
        """A document built by applying a saved history, verifying every change."""
        if type(heads) is not list:
            raise DecodeError("saved document fields have wrong types")
        if snap is not None and type(snap) is not bytes:
            raise DecodeError("saved snapshot is not bytes")
        doc = cls(actor, clock=clock) if snap is None else cls._from_snapshot(snap, actor, clock)
        with gc_paused():  # (a burst of containers: crdt.gcpause)
            items = _history_items(records)
            doc.apply_changes([it[0] for it in items])
        if doc._pending:
            raise MissingDependencyError("saved document has changes with missing dependencies")
        if doc.heads != heads:
            raise HashMismatchError("saved heads do not match the loaded history")
        return doc

    # ------------------------------------------------------------ the deferred history

    def _need_history(self) -> None:
        """Decode the history a lazily loaded document left encoded (once)."""
        if self._deferred is not None:
            self._materialise()

    def _materialise(self) -> None:
        """Replace the checkpoint base by the saved history it stands for.

        The saved changes are decoded and linked (their hashes recomputed, so they must end
        exactly at the checkpoint's heads), then the changes made or received since the
        load are linked on top.  The state is not touched: it already is the state at
        these heads.  Builds the new history aside and swaps it in, so a damaged file
        raises and leaves the document as it was.  O(history).
        """
        dfr = self._deferred
        assert dfr is not None and self._base is not None
        with gc_paused():  # a burst of long-lived objects
            base0 = None if dfr.snap is None else decode_snapshot(dfr.snap)[1]
            items = _history_items(dfr.records)
            if len(items) != dfr.n:
                raise DecodeError(f"saved history holds {len(items)} changes, not {dfr.n}")
            hist = History()
            hist.base = base0
            cut_heads = base0.heads if base0 is not None else {}
            for raw, hsh, actor, seq, deps, header in items:
                if header is None:  # kept verbatim: decode it
                    u = decode_change(raw)
                else:
                    # the compact record gave every field History keeps; it keeps no ops
                    start, n_ops, t, msg = header
                    u = UnverifiedChange(
                        actor, seq, start, t, msg, tuple(deps), [], raw, hsh, n_ops
                    )
                _link(hist, u, cut_heads)
            if hist.heads != sorted(self._base.heads):
                raise HashMismatchError("the saved history does not end at the saved heads")
            later = self._history
            for i in range(len(later)):
                _link(hist, decode_change(later.raw_at(i)), cut_heads)
        self._history = hist
        self._base = base0
        self._deferred = None
        # the first dfr.n changes are the loaded records' (later saves write them again)
        last = hist.hash_at(dfr.n - 1) if dfr.n else None
        self._saved = _Saved(dfr.records, dfr.snap, dfr.n, last, base0)

    @classmethod
    def _from_snapshot(
        cls, data: bytes, actor: bytes | str | None = None, clock: Callable[[], int] | None = None
    ) -> Doc:
        opset, base = decode_snapshot(data)
        doc = cls(actor, clock=clock)
        doc._opset = opset
        doc._base = base
        doc._history.base = base
        doc._max_op = doc._history.max_op()
        return doc

    # ------------------------------------------------------------ observers

    def observe(self, callback: Callable[[list[Patch]], None]) -> Subscription:
        """Call ``callback(patches)`` after each :meth:`apply_changes` that changed the
        document; returns a :class:`Subscription`.

        Every observer is called, in the order they were added, each with a list of its
        own.  If one raises, the others are still called, and then the first exception
        propagates from :meth:`apply_changes`; the changes stay applied (they are in the
        document and its history), so the caller must not send them again.

        Example:
            >>> a, b = Doc("0a"), Doc("0b")
            >>> seen = []
            >>> with b.observe(seen.extend):
            ...     a.root["title"] = "Hello"
            ...     _ = b.apply_changes(a.get_changes())
            >>> [(p.action, p.key, p.value) for p in seen]
            [('put', 'title', 'Hello')]
        """
        if not callable(callback):
            # (found only when a remote change arrives, as a TypeError from the apply)
            raise UsageError(f"an observer must be callable, not {type(callback).__name__}")
        self._observers.append(callback)
        return Subscription(self, callback, self._observers)

    def on_change(self, callback: Callable[[list[Change], str], None]) -> Subscription:
        """Call ``callback(changes, origin)`` whenever history grows: ``origin`` is
        ``"local"`` after a commit and ``"remote"`` after :meth:`apply_changes` applied
        some changes.  Storage uses this to log every change however it was made.

        Every listener is called, in the order they were added, and after them, for
        remote changes, every observer (:meth:`observe`), whatever one of them raises.
        The first exception then propagates to the committing or applying caller; the
        change stays in memory, but whatever the raising listener was to do with it (log
        it, say) was not done: it was not acknowledged."""
        if not callable(callback):
            raise UsageError(f"a change listener must be callable, not {type(callback).__name__}")
        self._change_listeners.append(callback)
        return Subscription(self, callback, self._change_listeners)

    def _check(self) -> None:
        """Assert the structural invariants of every sequence, and that every buffered
        change waits for each dep it lacks (it is released only by one of them arriving).
        Stress tests call this."""
        for st in self._opset.objs.values():
            if isinstance(st.data, Sequence):
                st.data._check()
        index = self._history.index
        cut = self._base.heads if self._base is not None else {}
        for hsh, u in self._pending.items():
            for d in u.deps:
                if d not in index and d not in cut:
                    assert hsh in self._waiting.get(d, ()), "a buffered change waits for nothing"


def _tell_all(callbacks: list[Callable[..., None]], *args: Any) -> Exception | None:
    """Call each of ``callbacks`` (a copy: one may unsubscribe) with ``args``, whatever
    another one raises; returns the first exception raised, if any.  O(callbacks)."""
    error: Exception | None = None
    for cb in list(callbacks):
        try:
            cb(*args)
        except Exception as exc:
            if error is None:
                error = exc
    return error


def _waiting_index(
    pending: dict[bytes, UnverifiedChange], index: HashIndex, base: Base | None
) -> dict[bytes, list[bytes]]:
    """Missing dep -> the pending changes waiting on it (rebuilt after a failed call)."""
    waiting: dict[bytes, list[bytes]] = {}
    for hsh, u in pending.items():
        for d in u.deps:
            if d not in index and (base is None or d not in base.heads):
                waiting.setdefault(d, []).append(hsh)
    return waiting


class _CallHashes:
    """The hashes of the changes of one :meth:`Doc.apply_changes` call, computed on first
    use: only a buffered change that turns out invalid asks (is it from this call?)."""

    __slots__ = ("_changes", "_set")

    def __init__(self, changes: list[bytes | UnverifiedChange]) -> None:
        self._changes = changes
        self._set: set[bytes] | None = None

    def __contains__(self, h: bytes) -> bool:
        if self._set is None:
            self._set = {
                c.hash if isinstance(c, UnverifiedChange) else change_hash(bytes(c))
                for c in self._changes
                if isinstance(c, UnverifiedChange | bytes | bytearray | memoryview)
            }
        return h in self._set


class _Deferred:
    """The history of a lazily loaded document, still encoded (see :meth:`Doc.load`)."""

    __slots__ = ("n", "records", "snap")

    def __init__(self, records: tuple[Record, ...], snap: bytes | None, n: int) -> None:
        self.records = records  # the saved history: its records, with their change counts
        self.snap = snap  # the snapshot that history starts after, if any
        self.n = n  # how many changes it holds


class _Saved:
    """The records a document's last save (or its load) wrote or read, holding the first
    changes of its history: the next save writes them again and adds the rest."""

    __slots__ = ("base", "last", "n", "records", "snap")

    def __init__(
        self,
        records: tuple[Record, ...],
        snap: bytes | None,
        n: int,
        last: bytes | None,
        base: Base | None,
    ) -> None:
        self.records = records  # in order, each with how many changes it holds
        self.snap = snap  # the snapshot the history starts after, if any
        self.n = n  # how many of the history's changes they hold: its first n (the
        # changes of a history still encoded, which it does not hold, come before those)
        self.last = last  # the hash of change n - 1 (None if n == 0): the prefix is intact
        self.base = base  # the document's base then (the history is numbered from it)


def _check_merge_interval(ms: Any) -> int | None:
    if ms is not None and (type(ms) is not int or ms < 0):
        raise UsageError(f"merge_interval is None or ms >= 0, got {ms!r}")
    return ms


def _checksum(fields: list[Any]) -> int:
    """xxh3-64 of the msgpack of a saved document's fields: damage is caught at load,
    although the history is decoded later."""
    return int(xxhash.xxh3_64_intdigest(msgpack.packb(fields)))


def _inflate(data: bytes, what: str, limit: int | None = None) -> bytes:
    """zlib-inflate ``data`` with a bound (``limit``, else MAX_SAVE_BYTES) against zip
    bombs."""
    try:
        z = zlib.decompressobj()
        out = z.decompress(data, MAX_SAVE_BYTES if limit is None else limit)
        if z.unconsumed_tail or not z.eof:
            raise DecodeError(f"{what} is truncated or larger than MAX_SAVE_BYTES")
        return out
    except zlib.error as exc:
        raise DecodeError(f"{what} does not inflate ({exc})") from exc


def _records(body: Any, version: int, n: int | None) -> tuple[Record, ...]:
    """A saved history's records, checked: format 4 has a non-empty array of ``[changes,
    bin]`` whose counts add up to ``n``; formats 2 and 3 one bin (holding ``n`` changes;
    None: not said)."""
    if version != SAVE_VERSION:
        if type(body) is not bytes:
            raise DecodeError("saved history is not bytes")
        return ((body, -1 if n is None else n),)
    if type(body) is not list or not body:
        raise DecodeError("saved history is not a non-empty array of records")
    out = []
    for r in body:
        if (
            type(r) is not list
            or len(r) != 2
            or type(r[0]) is not int
            or r[0] < 0
            or type(r[1]) is not bytes
        ):
            raise DecodeError("a saved record is not [changes, bytes]")
        out.append((r[1], r[0]))
    if sum(k for _, k in out) != n:
        raise DecodeError("the saved records' change counts do not add up to n_changes")
    return tuple(out)


def _history_items(records: tuple[Record, ...]) -> list[Any]:
    """The saved history's changes as ``(raw, hash, actor, seq, deps, header)``, in order
    (see :data:`crdt.compact.Decoded`).  Each record is decoded against a scope of its own
    (SPEC.md section 8): a dep on a change of an earlier record is a hash."""
    items: list[Any] = []
    left = MAX_SAVE_BYTES  # (the records together: each inflates within what is left)
    for body, count in records:
        if not left:  # (zlib reads a bound of 0 as none)
            raise DecodeError("saved history is larger than MAX_SAVE_BYTES")
        raw_payload = _inflate(body, "saved history", left)
        left -= len(raw_payload)
        try:
            payload = msgpack.unpackb(raw_payload, raw=False, use_list=True)
        except (ValueError, msgpack.ExtraData) as exc:
            raise DecodeError(f"saved history does not decode ({type(exc).__name__})") from exc
        # (a reader's scope needs no clock: each record's header gives its authors' seqs;
        # deps on a snapshot cut's heads are kept as hashes)
        got = Scope().decode(payload)
        if count >= 0 and len(got) != count:
            raise DecodeError(f"a saved record holds {len(got)} changes, not {count}")
        items += got
    if any(it is None for it in items):
        raise DecodeError("saved document refers to changes it does not hold")
    return items


def _link(hist: History, u: UnverifiedChange, cut_heads: Any) -> None:
    """Add a change of a trusted saved history to ``hist`` (its deps must be there)."""
    if len(u.raw) > _change.MAX_CHANGE_BYTES:  # looked up at call time (tests lower it)
        raise DecodeError(f"a saved change of {len(u.raw)} bytes exceeds MAX_CHANGE_BYTES")
    number = hist.number
    dep_idx = []
    for d in u.deps:
        i = number(d)
        if i is None:
            if d in cut_heads:
                continue
            raise DecodeError("saved history refers to a change it does not hold")
        dep_idx.append(i)
    if hist.seq_of(u.actor) + 1 != u.seq:
        raise DecodeError("saved history has a gap in an actor's changes")
    u.__class__ = Change
    assert isinstance(u, Change)
    hist.add(u, tuple(dep_idx))


def _same_state(doc: Doc, opset: OpSet, cut: Base, whole: bool) -> bool:
    """Whether ``doc`` (replayed) has the checkpoint's state.  Compares the canonical
    encodings: with tombstones if the history starts from the empty document (``whole``),
    else the visible state (a replay from a snapshot has no tombstones before its cut)."""
    probe = Doc()
    probe._opset = opset
    probe._base = cut
    probe._history.base = cut
    return encode_snapshot(doc, tombstones=whole) == encode_snapshot(probe, tombstones=whole)


class _NeedHistory(Exception):
    """Internal: verifying a change needs the history a lazily loaded document deferred.
    Never escapes :meth:`Doc.apply_changes`, which decodes the history and retries."""


def _holds(st: Any, key: Any, p: OpId) -> bool:
    """Whether ``p`` is a live value op at ``key`` of object state ``st``."""
    if type(key) is str:
        es = st.data.get(key)
    else:
        run = st.data.find(key[0], key[1])
        if run is None:
            return False
        if not run.reg:
            return not run.deleted and p == key
        es = run.content[0].entries
    return bool(es) and any(e[0] == p[0] and e[1] == p[1] for e in es)
