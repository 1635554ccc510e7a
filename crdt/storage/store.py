"""The durable store of one document: log segments, snapshots and a manifest.

Layout of a store directory (SPEC.md section 13)::

    MANIFEST                    epochs (the last is current); replaced atomically
    LOCK                        flock'ed by the open Store
    log/seg-<16 hex>.log        segments: header + records
    snapshots/<64 hex>.snap     snapshot files, named by their BLAKE2b-256 root

>>> import tempfile, os
>>> from crdt import Doc
>>> d = tempfile.mkdtemp()
>>> with Store.open(os.path.join(d, "doc"), fsync="never") as store:
...     pd = store.open_doc(actor="aa")
...     with pd.transaction() as tx:
...         _ = tx.put(None, "title", "hello")
>>> Store.load(os.path.join(d, "doc")).to_py()
{'title': 'hello'}
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time as _time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgpack

from ..change import Change, UnverifiedChange, decode_change
from ..compact import CodecError, Scope
from ..errors import CrdtError, InvalidChangeError, MissingDependencyError, UsageError
from ..ids import coerce_actor
from .errors import (
    CorruptStoreError,
    SnapshotMismatchError,
    StaleChangeError,
    StoreClosedError,
    StoreLockedError,
)
from .framing import REC_CHANGES, REC_CHANGES_Z, REC_EPOCH, REC_REJECTED, encode_record
from .fsutil import TMP_SUFFIX, FailPoints, atomic_write, fsync_dir, remove_durably
from .log import SegmentWriter, changes_record, parse_payload, rejected_record
from .manifest import ZERO_ID, EpochInfo, read_manifest, write_manifest
from .recovery import SalvageReport, Torn, read_segment, salvage_segment
from .segment import encode_header, parse_segment_name, read_header, segment_name

if TYPE_CHECKING:
    from ..doc import Doc
    from ..transaction import Transaction

FsyncMode = Literal["always", "batch", "never"]
MANIFEST = "MANIFEST"
LOG_DIR = "log"
SNAP_DIR = "snapshots"
SNAP_EXT = ".snap"


@dataclass
class RejectedChange:
    """A change kept in the log as a rejected-change record, not applied."""

    hash: bytes
    raw: bytes
    reason: str


@dataclass
class CompactReport:
    epochs_dropped: list[int] = field(default_factory=list)
    segments_removed: int = 0
    snapshots_removed: int = 0


def _blake(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


class Store:
    """An open store directory.  Create with :meth:`open`; close with :meth:`close`.

    Durability (``fsync``):

    * ``"always"``: :meth:`append` (and so :meth:`PersistentDoc.commit`) returns only after
      the record is written and ``fdatasync``-ed.
    * ``"batch"``: group commit.  :meth:`append` only queues; the queue is written as one
      record and fsynced when ``batch_changes`` changes are queued, ``batch_ms`` after the
      first queued change (by a background thread), and on :meth:`flush` / :meth:`close` /
      :meth:`create_epoch`.  A returned append is *not* durable; when :meth:`flush` returns,
      every change appended before the call is.  ``durable_seq`` counts durable changes.
    * ``"never"``: as batch but without fsync of the log (nor the thread); for tests and
      bulk import.  Files are still written on flush/close.
    """

    def __init__(
        self,
        path: str,
        fsync: FsyncMode,
        batch_changes: int,
        batch_ms: float,
        keep_epochs: int | None,
        max_segment_bytes: int,
        failpoints: FailPoints | None,
    ) -> None:
        if fsync not in ("always", "batch", "never"):
            raise UsageError(f"fsync must be 'always', 'batch' or 'never', not {fsync!r}")
        if keep_epochs is not None and keep_epochs < 1:
            raise UsageError("keep_epochs must be >= 1 or None (keep everything)")
        self.path = os.path.abspath(path)
        self.fsync: FsyncMode = fsync
        self.batch_changes = max(1, batch_changes)
        self.batch_ms = batch_ms
        self.keep_epochs = keep_epochs
        self.max_segment_bytes = max_segment_bytes
        self.fp = failpoints or FailPoints()
        self.rejected: list[RejectedChange] = []
        self.torn: list[Torn] = []  # tails cut by the torn-write rule when opening
        self.dropped_changes = 0  # undecodable after a salvage dropped what they refer to
        self.epochs: list[EpochInfo] = []
        self._lock = threading.RLock()
        self._cv = threading.Condition(self._lock)
        self._buf: list[tuple[int, bytes, Any]] = []  # (record type, raw, hash | reason)
        self._deadline = 0.0
        self._failed: BaseException | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._writer: SegmentWriter | None = None
        self._lock_fd = -1
        self.durable_seq = 0  # changes known durable (batch/always)
        self.appended_seq = 0  # changes appended
        # logical state of the current epoch
        self._scope = Scope()
        self._cut_heads: set[bytes] = set()
        self._post: set[bytes] = set()  # changes logged in this epoch
        self._heads: set[bytes] = set()
        self._clock: dict[bytes, int] = {}
        self._stale: set[bytes] = set()
        self._replay: list[bytes] | None = []

    # ------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        fsync: FsyncMode = "always",
        *,
        batch_changes: int = 1024,
        batch_ms: float = 5.0,
        keep_epochs: int | None = None,
        max_segment_bytes: int = 64 << 20,
        failpoints: FailPoints | None = None,
    ) -> Store:
        """Open the store at ``path``, creating it if the directory has no store.

        Recovery runs first (see SPEC.md 13.9 "Recovery"); raises
        :class:`CorruptStoreError` for damage that is not a torn write, and
        :class:`UsageError` if ``path`` (a str or path-like) names a file, not a directory.
        """
        if not isinstance(path, str | os.PathLike):
            raise UsageError(f"a store's path is a str or path-like, not {type(path).__name__}")
        path = os.fspath(path)
        if os.path.exists(path) and not os.path.isdir(path):
            # (it failed making the log directory inside: NotADirectoryError for path/log)
            raise UsageError(f"{path} is not a directory: a store is a directory")
        st = cls(path, fsync, batch_changes, batch_ms, keep_epochs, max_segment_bytes, failpoints)
        try:
            st._open()
        except BaseException:
            st._release()
            raise
        if fsync == "batch":
            st._thread = threading.Thread(target=st._flusher, name="crdt-store-flush", daemon=True)
            st._thread.start()
        return st

    @classmethod
    def load(cls, path: str, actor: bytes | str | None = None) -> Doc:
        """The document stored at ``path`` (newest snapshot + the log after it)."""
        with cls.open(path, "never") as st:
            return st.read_doc(actor)

    def _p(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    def _open(self) -> None:
        os.makedirs(self._p(LOG_DIR), exist_ok=True)
        os.makedirs(self._p(SNAP_DIR), exist_ok=True)
        self._lock_fd = os.open(self._p("LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise StoreLockedError(f"{self.path} is open elsewhere") from exc
        for d in (self.path, self._p(LOG_DIR), self._p(SNAP_DIR)):
            for name in os.listdir(d):
                if name.endswith(TMP_SUFFIX):
                    os.unlink(os.path.join(d, name))
        segs = self._list_segments()
        if not os.path.exists(self._p(MANIFEST)):
            if segs or self._list_snapshots():
                raise CorruptStoreError(self._p(MANIFEST), -1, "store has files but no manifest")
            write_manifest(self._p(MANIFEST), [EpochInfo(0, ZERO_ID, None, [], {}, 1)], self.fp)
        self.epochs = read_manifest(self._p(MANIFEST))
        cur = self.epochs[-1]
        # leftovers: an uncommitted epoch's segment, segments and snapshots compacted away
        garbage = [self._seg_path(n) for n in segs if n < self.epochs[0].first_segment]
        cur_segs: list[int] = []
        for n in segs:
            if n < self.epochs[0].first_segment:
                continue
            hdr = read_header(self._seg_path(n))
            if hdr.epoch > cur.number:
                if n < cur.first_segment:
                    raise CorruptStoreError(self._seg_path(n), 24, "segment of a future epoch")
                garbage.append(self._seg_path(n))
            elif n >= cur.first_segment:
                if hdr.epoch != cur.number:
                    raise CorruptStoreError(
                        self._seg_path(n), 24, f"segment of epoch {hdr.epoch} in epoch {cur.number}"
                    )
                cur_segs.append(n)
        roots = {e.root for e in self.epochs if e.root is not None}
        for name in self._list_snapshots():
            if bytes.fromhex(name[: -len(SNAP_EXT)]) not in roots:
                garbage.append(self._p(SNAP_DIR, name))
        if garbage:
            remove_durably(garbage, self.path, self.fp, "cleanup")
            fsync_dir(self._p(LOG_DIR))
            fsync_dir(self._p(SNAP_DIR))
        if cur.root is not None:
            self._read_snapshot(cur.root)  # verifies the root
        if not cur_segs:
            if cur.number != 0:
                raise CorruptStoreError(
                    self._seg_path(cur.first_segment), -1, "epoch segment missing"
                )
            self._create_segment(cur.first_segment, 0, b"")
            cur_segs = [cur.first_segment]
        if cur_segs != list(range(cur.first_segment, cur.first_segment + len(cur_segs))):
            raise CorruptStoreError(self._p(LOG_DIR), -1, f"segments missing in {cur_segs}")
        self._start_epoch_state(cur)
        for k, n in enumerate(cur_segs):
            path = self._seg_path(n)
            data, frames, torn = read_segment(path, k == len(cur_segs) - 1, self.fp)
            if torn is not None:
                self.torn.append(torn)
            self._replay_frames(path, data, frames, first=(k == 0))
        self._writer = SegmentWriter(self._seg_path(cur_segs[-1]), cur_segs[-1])

    def _start_epoch_state(self, e: EpochInfo) -> None:
        self._scope = Scope(e.clock)
        self._cut_heads = set(e.heads)
        self._post = set()
        self._heads = set(e.heads)
        self._clock = dict(e.clock)
        self._stale = set()
        self._replay = []
        self.rejected = []

    def _replay_frames(self, path: str, data: bytes, frames: list[Any], first: bool) -> None:
        cur = self.epochs[-1]
        mv = memoryview(data)
        for i, fr in enumerate(frames):
            try:
                obj = parse_payload(fr.rtype, bytes(mv[fr.start : fr.start + fr.length]))
                if fr.rtype == REC_EPOCH:
                    if not (first and i == 0 and cur.number > 0):
                        raise ValueError("epoch record in the middle of an epoch")
                    if EpochInfo.from_obj(obj, path, fr.offset).to_obj() != cur.to_obj():
                        raise ValueError("epoch record differs from the manifest")
                    continue
                if first and i == 0 and cur.number > 0:
                    raise ValueError("an epoch's first record must be its epoch record")
                if fr.rtype in (REC_CHANGES, REC_CHANGES_Z):
                    for dc in self._scope.decode(obj):
                        if dc is None:
                            self.dropped_changes += 1
                            continue
                        raw, hsh, actor, seq, deps, _ = dc
                        self._note_logical(hsh, actor, seq, deps)
                        assert self._replay is not None
                        self._replay.append(raw)
                elif fr.rtype == REC_REJECTED:
                    if type(obj) is not list or len(obj) != 2 or type(obj[0]) is not bytes:
                        raise ValueError("malformed rejected-change record")
                    raw = obj[0]
                    h = _blake(raw)
                    self.rejected.append(RejectedChange(h, raw, str(obj[1])))
                    self._stale.add(h)
            except (ValueError, CodecError, CorruptStoreError) as exc:
                if isinstance(exc, CorruptStoreError):
                    raise
                raise CorruptStoreError(path, fr.offset, f"bad record payload: {exc}") from exc
        if first and cur.number > 0 and not frames:
            raise CorruptStoreError(path, -1, "epoch segment has no epoch record")

    def _note_logical(self, hsh: bytes, actor: bytes, seq: int, deps: Iterable[bytes]) -> None:
        self._post.add(hsh)
        heads = self._heads
        for d in deps:
            heads.discard(d)
        heads.add(hsh)
        if seq > self._clock.get(actor, 0):
            self._clock[actor] = seq

    def _list_segments(self) -> list[int]:
        out = []
        for name in os.listdir(self._p(LOG_DIR)):
            n = parse_segment_name(name)
            if n is not None:
                out.append(n)
        return sorted(out)

    def _list_snapshots(self) -> list[str]:
        return sorted(n for n in os.listdir(self._p(SNAP_DIR)) if n.endswith(SNAP_EXT))

    def _seg_path(self, n: int) -> str:
        return self._p(LOG_DIR, segment_name(n))

    def _snap_path(self, root: bytes) -> str:
        return self._p(SNAP_DIR, root.hex() + SNAP_EXT)

    def _read_snapshot(self, root: bytes) -> bytes:
        p = self._snap_path(root)
        try:
            with open(p, "rb") as f:
                data = f.read()
        except FileNotFoundError as exc:
            raise CorruptStoreError(p, -1, "snapshot file missing") from exc
        if _blake(data) != root:
            raise SnapshotMismatchError(p, 0, "snapshot bytes do not hash to their root")
        return data

    def _create_segment(self, number: int, epoch: int, first: bytes) -> None:
        atomic_write(
            self._seg_path(number), encode_header(number, epoch) + first, self.fp, "segment"
        )

    # ------------------------------------------------------------ state

    @property
    def epoch(self) -> EpochInfo:
        """The current epoch."""
        return self.epochs[-1]

    @property
    def heads(self) -> list[bytes]:
        """Heads of everything appended (durable or queued)."""
        with self._lock:
            return sorted(self._heads)

    def knows(self, hsh: bytes) -> bool:
        """Whether ``hsh`` is a cut head or a change logged in the current epoch."""
        return hsh in self._post or hsh in self._cut_heads

    def read_doc(
        self, actor: bytes | str | None = None, clock: Callable[[], int] | None = None
    ) -> Doc:
        """Rebuild the document: the epoch's snapshot, then the log after it."""
        from ..doc import Doc

        with self._lock:
            cur = self.epoch
            replay = self._replay
            if replay is None:
                raise UsageError("read_doc() can be called once, before appending")
            if actor is not None:
                # (checked here: raised inside the rebuild, a bad argument read as a
                # corrupt store, "stored changes do not rebuild")
                actor = coerce_actor(actor)
            try:
                if cur.root is None:
                    doc = Doc(actor, clock=clock)
                else:
                    from ..snapshot import load_snapshot

                    doc = load_snapshot(self._read_snapshot(cur.root), actor, clock=clock)
                doc.apply_changes(replay)
            except CorruptStoreError:
                raise
            except (CrdtError, ValueError, TypeError, KeyError, IndexError) as exc:
                raise CorruptStoreError(
                    self.path, -1, f"stored changes do not rebuild: {type(exc).__name__}: {exc}"
                ) from exc
            if (doc.pending or set(doc.heads) != self._heads) and not self._scope.gaps:
                raise CorruptStoreError(self.path, -1, "stored changes have missing dependencies")
            self._replay = None
            return doc

    def open_doc(
        self, actor: bytes | str | None = None, clock: Callable[[], int] | None = None
    ) -> PersistentDoc:
        """:meth:`read_doc` wrapped in a :class:`PersistentDoc` that persists to this store."""
        return PersistentDoc(self, self.read_doc(actor, clock))

    def attach(self, doc: Doc) -> PersistentDoc:
        """Persist ``doc`` here from now on, after appending the changes the store lacks."""
        missing = [h for h in self._heads if not doc.has_change(h) and h not in self._cut_heads]
        if missing:
            raise UsageError("the document lacks changes the store has; use open_doc()")
        self._replay = None
        pd = PersistentDoc(self, doc)
        pd.persist()
        return pd

    # ------------------------------------------------------------ appending

    def _check_writable(self) -> None:
        if self._failed is not None:
            raise StoreClosedError(f"an earlier write failed: {self._failed!r}")
        if self._closed:
            raise StoreClosedError("store is closed")

    def append(self, changes: Sequence[UnverifiedChange]) -> None:
        """Log changes (already applied to the document, in causal order).

        Durability follows the store's ``fsync`` mode.  No staleness check: use
        :class:`PersistentDoc` (or :meth:`classify`) for changes from other peers.
        """
        if not changes:
            return
        for c in changes:
            if not isinstance(c, UnverifiedChange):
                # (bytes failed deep inside, with AttributeError: no .hash)
                raise UsageError(
                    f"append takes decoded changes (crdt.decode_change), not {type(c).__name__}"
                )
        with self._lock:
            self._check_writable()
            self._replay = None
            for c in changes:
                self._note_logical(c.hash, c.actor, c.seq, c.deps)
                self._buf.append((REC_CHANGES, c.raw, c.hash))
            self.appended_seq += len(changes)
            self._after_append()

    def reject(self, change: UnverifiedChange, reason: str) -> RejectedChange:
        """Log ``change`` as a rejected-change record and list it in :attr:`rejected`."""
        with self._lock:
            self._check_writable()
            rc = RejectedChange(change.hash, change.raw, reason)
            self.rejected.append(rc)
            self._stale.add(change.hash)
            self._buf.append((REC_REJECTED, change.raw, reason))
            self._after_append()
            return rc

    def _after_append(self) -> None:
        if self.fsync == "always" or len(self._buf) >= self.batch_changes:
            self._flush_locked()
        elif self.fsync == "batch" and self._deadline == 0.0:
            self._deadline = _time.monotonic() + self.batch_ms / 1000.0
            self._cv.notify()

    def flush(self) -> None:
        """Write and (unless ``fsync="never"``) fsync everything appended so far."""
        with self._lock:
            self._check_writable()
            self._flush_locked()

    def _flush_locked(self) -> None:
        buf = self._buf
        self._deadline = 0.0
        if not buf:
            return
        w = self._writer
        assert w is not None
        try:
            parts: list[bytes] = []
            i = 0
            n_changes = 0
            while i < len(buf):
                if buf[i][0] == REC_REJECTED:
                    parts.append(rejected_record(buf[i][1], buf[i][2]))
                    i += 1
                    continue
                j = i
                while j < len(buf) and buf[j][0] == REC_CHANGES and j - i < 65536:
                    j += 1
                parts.append(changes_record(self._scope, [(b[1], b[2]) for b in buf[i:j]]))
                n_changes += j - i
                i = j
            self.fp.hit("append.write")
            w.write(b"".join(parts))
            if self.fsync != "never":
                self.fp.hit("append.fsync")
                w.sync()
        except CrdtError:
            raise
        except Exception as exc:
            self._failed = exc
            raise StoreClosedError(f"write to {w.path} failed: {exc!r}") from exc
        buf.clear()
        self.durable_seq += n_changes
        if w.size >= self.max_segment_bytes:
            self._roll_segment(self.epoch.number, b"")

    def _roll_segment(self, epoch: int, first: bytes) -> None:
        """Seal the current segment and continue in a new one."""
        w = self._writer
        assert w is not None
        w.sync()
        n = w.number + 1
        self._create_segment(n, epoch, first)
        w.close()
        self._writer = SegmentWriter(self._seg_path(n), n)

    def _flusher(self) -> None:
        with self._lock:
            while not self._closed:
                if self._deadline == 0.0:
                    self._cv.wait()
                    continue
                delay = self._deadline - _time.monotonic()
                if delay > 0:
                    self._cv.wait(delay)
                    continue
                if self._failed is None:
                    with contextlib.suppress(CrdtError):
                        self._flush_locked()
                else:
                    self._deadline = 0.0

    # ------------------------------------------------------------ epochs

    def create_epoch(self, doc: Doc | PersistentDoc, migration: Any = None) -> EpochInfo:
        """Snapshot ``doc`` (which must hold exactly what the store holds) and start a new
        epoch at its heads.  Crash-safe: see SPEC.md 13.11 "Crash safety"."""
        from ..snapshot import encode_snapshot, snapshot_root

        d = doc.doc if isinstance(doc, PersistentDoc) else doc
        try:
            # (checked before anything is written: it failed when the epoch record was
            # encoded, with msgpack's own error, leaving a snapshot no epoch named)
            msgpack.packb(migration)
        except (TypeError, ValueError, OverflowError) as exc:
            raise UsageError(
                f"a migration must be msgpack data (None, bool, int, float, str, bytes, "
                f"lists and maps of them): {type(exc).__name__}: {exc}"
            ) from None
        with self._lock:
            self._check_writable()
            if d._tx is not None:
                raise UsageError("commit or roll back the open transaction first")
            if set(d.heads) != self._heads:
                raise UsageError("the document's heads are not the store's: persist it first")
            self._flush_locked()
            if self.fsync == "never":
                assert self._writer is not None
                self._writer.sync()
            data = encode_snapshot(d)
            root = snapshot_root(data)
            sp = self._snap_path(root)
            if not os.path.exists(sp):
                atomic_write(sp, data, self.fp, "snapshot")
            old = self.epoch
            assert self._writer is not None
            info = EpochInfo(
                number=old.number + 1,
                prev=old.id,
                root=root,
                heads=sorted(self._heads),
                clock=dict(self._clock),
                first_segment=self._writer.number + 1,
                migration=migration,
            )
            info.id = info.compute_id()
            rec = encode_record(REC_EPOCH, info.record_payload())
            self._create_segment(info.first_segment, info.number, rec)
            write_manifest(self._p(MANIFEST), [*self.epochs, info], self.fp)  # commit point
            self.epochs.append(info)
            self._writer.close()
            self._writer = SegmentWriter(self._seg_path(info.first_segment), info.first_segment)
            self._start_epoch_state(info)
            self._replay = None
            return info

    def compact(self) -> CompactReport:
        """Drop epochs beyond ``keep_epochs`` and delete files nothing refers to."""
        with self._lock:
            self._check_writable()
            rep = CompactReport()
            keep = self.keep_epochs
            epochs = self.epochs if keep is None else self.epochs[-keep:]
            if len(epochs) != len(self.epochs):
                rep.epochs_dropped = [
                    e.number for e in self.epochs[: len(self.epochs) - len(epochs)]
                ]
                write_manifest(self._p(MANIFEST), epochs, self.fp)  # commit point
                self.epochs = list(epochs)
            first = self.epochs[0].first_segment
            roots = {e.root for e in self.epochs if e.root is not None}
            segs = [self._seg_path(n) for n in self._list_segments() if n < first]
            snaps = [
                self._p(SNAP_DIR, s)
                for s in self._list_snapshots()
                if bytes.fromhex(s[: -len(SNAP_EXT)]) not in roots
            ]
            rep.segments_removed = remove_durably(segs, self._p(LOG_DIR), self.fp, "compact.log")
            rep.snapshots_removed = remove_durably(
                snaps, self._p(SNAP_DIR), self.fp, "compact.snap"
            )
            return rep

    # ------------------------------------------------------------ salvage

    @classmethod
    def salvage(cls, path: str) -> SalvageReport:
        """Keep every valid record of every segment, drop damaged byte ranges, report them.

        The originals are kept as ``<segment>.corrupt``.  Changes that refer to dropped
        ones cannot be decoded any more and are counted in ``undecodable_changes``.  The
        store must not be open.  Damage outside segments (manifest, snapshot, headers) is
        not salvageable and raises :class:`CorruptStoreError`.
        """
        rep = SalvageReport()
        log = os.path.join(path, LOG_DIR)
        for name in sorted(os.listdir(log)):
            if parse_segment_name(name) is not None:
                salvage_segment(os.path.join(log, name), rep)
        with cls.open(path, "never") as st:
            rep.undecodable_changes = st.dropped_changes
        return rep

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """Flush (durably unless ``fsync="never"``) and release the directory."""
        if self._closed:
            return
        try:
            with self._lock:
                if self._failed is None:
                    self._flush_locked()
                self._closed = True
                self._cv.notify_all()
        finally:
            if self._thread is not None:
                self._thread.join()
            self._release()

    def abandon(self) -> None:
        """Drop the store without writing anything (what a crash does; tests use it)."""
        with self._lock:
            self._closed = True
            self._buf.clear()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join()
        self._release()

    def _release(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PersistentDoc:
    """A :class:`~crdt.doc.Doc` whose every change goes to a :class:`Store`.

    Local edits, however they are made (``with pd.transaction() as tx: ...``,
    ``pd.commit(tx)``, or container edits on ``pd.doc`` that auto-commit), reach the log
    through :meth:`crdt.doc.Doc.on_change` before the commit returns (durably, in
    ``fsync="always"`` mode).  Remote changes: :meth:`apply_changes` classifies them
    against the epoch's cut first.
    """

    def __init__(self, store: Store, doc: Doc) -> None:
        self.store = store
        self.doc = doc
        self._waiting: dict[bytes, UnverifiedChange] = {}
        # changes received again that are in a cut (rule 1 of SPEC.md 13.8): a document
        # loaded from the snapshot does not know them by hash, and a change on one of
        # them is stale (rule 2), not waiting for it
        self._before_cut: set[bytes] = set()
        self._sub = doc.on_change(self._on_change)

    def _on_change(self, changes: list[Change], origin: str) -> None:
        if origin == "local":
            self.store.append(changes)

    def detach(self) -> None:
        """Stop persisting: the document's later local changes stay in memory only (a
        closed store no longer fails their commits with :class:`StoreClosedError`).
        What was appended is kept; :meth:`persist`, with a store attached again
        (:meth:`Store.attach`), appends what the store lacks.  O(listeners)."""
        self._sub.close()

    @contextlib.contextmanager
    def transaction(
        self, message: str | None = None, *, time: int | None = None
    ) -> Iterator[Transaction]:
        tx = self.doc.begin(message, time=time)
        try:
            yield tx
        except BaseException:
            if not tx._closed:
                tx.rollback()
            raise
        if not tx._closed:
            self.commit(tx)

    def begin(self, message: str | None = None, *, time: int | None = None) -> Transaction:
        return self.doc.begin(message, time=time)

    def commit(self, tx: Transaction | None = None) -> Change | None:
        """Commit ``tx`` (default: the open transaction) and persist its change."""
        tx = tx if tx is not None else self.doc._tx
        if tx is None:
            return None
        return tx.commit()  # the on_change hook appends it

    def persist(self) -> int:
        """Append changes the document has and the store lacks (e.g. made before the
        document was attached).  O(history)."""
        st = self.store
        heads = [h for h in st.heads if self.doc.has_change(h)]
        raws = self.doc.get_changes(heads) if heads else self.doc.get_changes()
        new = [decode_change(r) for r in raws]
        new = [c for c in new if not st.knows(c.hash) and c.seq > st._clock.get(c.actor, 0)]
        st.append(new)
        return len(new)

    def flush(self) -> None:
        self.store.flush()

    def apply_changes(
        self, changes: Iterable[bytes | UnverifiedChange], *, on_stale: str = "raise"
    ) -> list[Change]:
        """Apply remote changes that are after the epoch's cut, and persist them.

        Each change is (SPEC.md 13.8 "Stale changes"): already known or in the cut
        (skipped), after the cut (applied), stale (logged as rejected, listed in
        ``store.rejected``, not applied) or waiting for missing dependencies (kept here).
        If any was stale and ``on_stale == "raise"``, :class:`StaleChangeError` is raised
        after the others are applied and persisted.

        All or nothing (SPEC.md 7.4): a call that raises anything else (a malformed or
        invalid change of its own, or :class:`~crdt.errors.MissingDependencyError` if more
        than the document's bound on its buffer, 100,000, would wait here) leaves the
        document, the store and the changes waiting here as they were.  A change an
        earlier call left waiting that turns out invalid once this call completes it is
        rejected (logged with the reason ``invalid: ...``) and the call goes on without it
        and what depends on it (SPEC.md 7.3): a bad change must not block the valid ones
        that complete it.
        """
        if on_stale not in ("raise", "record"):
            # (any other value recorded stale changes silently: "rase" lost the error)
            raise UsageError(f"on_stale is 'raise' or 'record', not {on_stale!r}")
        st = self.store
        doc = self.doc
        # decoded first: a malformed change fails the call before it changes anything
        fresh: dict[bytes, UnverifiedChange] = {}
        for c in changes:
            u = c if isinstance(c, UnverifiedChange) else decode_change(c)
            if not st.knows(u.hash) and u.hash not in st._stale:
                fresh[u.hash] = u
        invalid: dict[bytes, tuple[UnverifiedChange, CrdtError]] = {}
        while True:
            waiting = {**self._waiting, **fresh}  # (kept only if the call succeeds)
            for h in invalid:
                del waiting[h]
            before_cut: set[bytes] = set()
            accept, stale = self._sort_out(waiting, set(invalid), before_cut)
            if len(waiting) > self._max_waiting():
                raise MissingDependencyError(
                    f"{len(waiting)} changes would wait for missing dependencies "
                    f"(limit {self._max_waiting()})"
                )
            try:
                applied = doc.apply_changes(accept) if accept else []
                break
            except InvalidChangeError:
                refused = self._refused(accept)
                if not refused or any(u.hash in fresh for u, _ in refused):
                    raise  # (this call's own change: the call fails as a whole)
                for u, exc in refused:
                    invalid[u.hash] = (u, exc)
        self._waiting = waiting
        self._before_cut |= before_cut
        st.append(applied)
        for u, exc in invalid.values():
            st.reject(u, f"invalid: {exc}")
        rejected = [st.reject(u, why) for u, why in stale]
        if rejected and on_stale == "raise":
            raise StaleChangeError(rejected, applied)
        return applied

    @staticmethod
    def _max_waiting() -> int:
        """The bound on waiting changes: the document's own on its buffer (SPEC.md 7.3),
        read when asked (tests lower it)."""
        from ..doc import MAX_PENDING

        return MAX_PENDING

    def _sort_out(
        self, waiting: dict[bytes, UnverifiedChange], rejected: set[bytes], before_cut: set[bytes]
    ) -> tuple[list[UnverifiedChange], list[tuple[UnverifiedChange, str]]]:
        """Take out of ``waiting`` the changes that no longer wait (SPEC.md 13.8): those
        after the cut, in an order that applies, and the stale ones with the reason; the
        ones in the cut are added to ``before_cut``.  ``rejected``: hashes rejected in this
        call besides the stale ones.  O(n^2) for n changes in the worst case (each pass
        settles one), O(n) when they come in order."""
        accept: list[UnverifiedChange] = []
        stale: list[tuple[UnverifiedChange, str]] = []
        accepted: set[bytes] = set()
        rejected = set(rejected)  # (grows with the stale ones: the caller's stays as it was)
        cut = self.store._cut_heads
        progress = True
        while progress:
            progress = False
            for h, u in list(waiting.items()):
                verdict = self._classify(u, accepted, rejected, cut, before_cut)
                if verdict == "wait":
                    continue
                del waiting[h]
                progress = True
                if verdict == "after":
                    accept.append(u)
                    accepted.add(h)
                elif verdict == "skip":
                    before_cut.add(h)
                else:
                    stale.append((u, verdict))
                    rejected.add(h)
        return accept, stale

    def _refused(self, accept: list[UnverifiedChange]) -> list[tuple[UnverifiedChange, CrdtError]]:
        """The changes of ``accept``, which the document refused as a whole, that it
        refuses, found on a copy in one pass: one change at a time, each after its deps
        (as :meth:`_sort_out` orders them), a refused one left out (the changes on it then
        wait in the copy's buffer).  So a call that releases many invalid changes costs
        one copy, not one each.  O(history + state) for the copy; taken only when a call
        fails."""
        probe = self.doc.fork()
        out: list[tuple[UnverifiedChange, CrdtError]] = []
        for u in accept:
            try:
                probe.apply_changes([u])
            except InvalidChangeError as exc:
                out.append((u, exc))
        return out

    def _classify(
        self,
        u: UnverifiedChange,
        accepted: set[bytes],
        stale: set[bytes],
        cut: set[bytes],
        before_cut: set[bytes],
    ) -> str:
        """``u``'s verdict under SPEC.md 13.8: skip (in the cut), stale (with the reason),
        wait, or after (the cut).  ``before_cut``: changes this call found in the cut."""
        st = self.store
        if u.seq <= st.epoch.clock.get(u.actor, 0):
            return "skip"  # in the cut: a duplicate
        post = st._post
        for d in u.deps:
            if d in post or d in accepted or d in cut:
                continue
            if d in st._stale or d in stale:
                return "stale: depends on a rejected change"
            if d in self._before_cut or d in before_cut or self.doc.has_change(d):
                return "stale: depends on a change before the cut"
            return "wait"
        if cut and set(u.deps) != cut and not any(d in post or d in accepted for d in u.deps):
            return "stale: does not have the whole cut in its causal past"
        return "after"

    def missing_deps(self) -> list[bytes]:
        """Hashes the waiting changes need."""
        st = self.store
        out = {
            d
            for u in self._waiting.values()
            for d in u.deps
            if not st.knows(d) and d not in self._waiting
        }
        return sorted(out)

    @property
    def waiting(self) -> int:
        return len(self._waiting)
