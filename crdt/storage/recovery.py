"""Opening a segment: the torn-write rule, and the explicit salvage of a corrupt store.

Rule (SPEC.md 13.9 "Recovery"): records are scanned from the header on.  At the
first record that is not a valid frame (incomplete, unknown type, oversized length or
checksum mismatch) at offset ``o``:

* if the segment is not the last one of the current epoch: corruption;
* else, if any valid frame starts at an offset in ``(o, end)`` ("followed by valid
  ones"): corruption -- :class:`CorruptStoreError` naming the file and ``o``, nothing is
  changed;
* else it is a torn write: bytes ``[o, end)`` are copied to ``<segment>.broken`` (fsynced),
  the segment is truncated to ``o`` (fsynced) and the directory is fsynced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import ChecksumError, CorruptStoreError, OversizedRecordError, TruncatedError
from .framing import BadFrame, Frame, iter_valid_frames, next_valid_frame, scan
from .fsutil import FailPoints, fdatasync, fsync_dir
from .segment import HEADER_LEN, decode_header

_REASON_ERR: dict[str, type[CorruptStoreError]] = {
    "incomplete": TruncatedError,
    "checksum": ChecksumError,
    "oversized": OversizedRecordError,
    "type": CorruptStoreError,
}


@dataclass
class Torn:
    """What the torn-write rule cut off a segment."""

    segment: str
    offset: int
    length: int
    broken_file: str


def broken_name(path: str) -> str:
    name = path + ".broken"
    k = 1
    while os.path.exists(name):
        name = f"{path}.broken.{k}"
        k += 1
    return name


def read_segment(path: str, last: bool, fp: FailPoints) -> tuple[bytes, list[Frame], Torn | None]:
    """Read and verify a segment; apply the torn-write rule if ``last``."""
    with open(path, "rb") as f:
        data = f.read()
    decode_header(data, path)
    frames, bad = scan(data, HEADER_LEN, len(data))
    if bad is None:
        return data, frames, None
    err = _REASON_ERR[bad.reason]
    if not last:
        raise err(path, bad.offset, f"bad record ({bad.reason}) in a sealed segment")
    nxt = next_valid_frame(data, bad.offset + 1, len(data))
    if nxt is not None:
        raise err(
            path,
            bad.offset,
            f"bad record ({bad.reason}) followed by a valid record at {nxt.offset}: "
            "corruption, not a torn write (see salvage())",
        )
    torn = cut_tail(path, data, bad.offset, fp)
    return data[: bad.offset], frames, torn


def cut_tail(path: str, data: bytes, offset: int, fp: FailPoints) -> Torn:
    """Move ``data[offset:]`` to a ``.broken`` file and truncate ``path`` to ``offset``."""
    broken = broken_name(path)
    fp.hit("recover.broken")
    fd = os.open(broken, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data[offset:])
        os.fsync(fd)
    finally:
        os.close(fd)
    fp.hit("recover.truncate")
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, offset)
        fdatasync(fd)
    finally:
        os.close(fd)
    fsync_dir(os.path.dirname(os.path.abspath(path)))
    return Torn(path, offset, len(data) - offset, broken)


@dataclass
class Dropped:
    """A damaged byte range removed by :func:`salvage_segment`."""

    file: str
    offset: int
    length: int
    reason: str


@dataclass
class SalvageReport:
    """What :meth:`Store.salvage` kept and dropped."""

    kept_records: int = 0
    dropped: list[Dropped] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)  # originals, renamed ``*.corrupt``
    undecodable_changes: int = 0  # kept changes that refer to dropped ones

    @property
    def clean(self) -> bool:
        return not self.dropped


def salvage_segment(path: str, report: SalvageReport) -> None:
    """Rewrite ``path`` keeping every valid record; the original becomes ``*.corrupt``."""
    with open(path, "rb") as f:
        data = f.read()
    decode_header(data, path)  # a bad header cannot be salvaged: raises
    kept: list[bytes] = [data[:HEADER_LEN]]
    dropped: list[Dropped] = []
    bad_at: BadFrame | None = None
    for item in iter_valid_frames(data, HEADER_LEN, len(data)):
        if isinstance(item, BadFrame):
            bad_at = item
            continue
        if bad_at is not None:
            dropped.append(Dropped(path, bad_at.offset, item.offset - bad_at.offset, bad_at.reason))
            bad_at = None
        kept.append(data[item.offset : item.end])
        report.kept_records += 1
    if bad_at is not None:
        dropped.append(Dropped(path, bad_at.offset, len(data) - bad_at.offset, bad_at.reason))
    if not dropped:
        return
    report.dropped.extend(dropped)
    backup = path + ".corrupt"
    k = 1
    while os.path.exists(backup):
        backup = f"{path}.corrupt.{k}"
        k += 1
    os.link(path, backup)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"".join(kept))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))
    report.backups.append(backup)
