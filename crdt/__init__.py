"""crdt: an op-based CRDT document engine in pure Python.

Maps keep concurrent values as conflicts (greatest op id wins), lists and text are
run-length encoded RGA sequences, and history is a hash DAG of changes.  See SPEC.md for
the protocol and INTERNALS.md for how it is built.

>>> from crdt import Doc
>>> doc = Doc()
>>> doc["title"] = "draft"
>>> doc.to_py()
{'title': 'draft'}
"""

from .change import Change, UnverifiedChange, decode_change
from .containers import List, Map, Text
from .doc import Doc, Subscription
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
from .ids import ROOT, ActorId, ObjId, OpId
from .patches import Patch
from .transaction import Transaction
from .values import Counter, ObjType

__all__ = [
    "ROOT",
    "ActorId",
    "Change",
    "Counter",
    "CrdtError",
    "DecodeError",
    "Doc",
    "DuplicateSeqError",
    "HashMismatchError",
    "InvalidChangeError",
    "List",
    "Map",
    "MissingDependencyError",
    "ObjId",
    "ObjType",
    "ObjectNotFoundError",
    "OpId",
    "Patch",
    "StaleChangeError",
    "Subscription",
    "Text",
    "Transaction",
    "TransactionError",
    "UnverifiedChange",
    "UsageError",
    "decode_change",
]
__version__ = "0.1.0"
