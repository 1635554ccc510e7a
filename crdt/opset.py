"""The document state: every object, and how one op changes it.

Maps are multi-value registers: ``key -> [(ctr, actor, value), ...]`` sorted ascending by op
id; the last entry is the visible winner and the others are conflicts.  A set or delete
removes exactly the entries its ``pred`` names, so concurrent sets both survive and a
delete concurrent with a set loses to it.  Sequences are :class:`~crdt.sequence.Sequence`.

Ops reach :meth:`OpSet.apply` only after verification (``crdt.doc``), so this module can
assume every referenced object and element exists; it never raises on remote input.
"""

from __future__ import annotations

from bisect import insort
from typing import Any

from .ids import ObjId, OpId
from .op import INC, INS, INS_MAKE, MAKE, REM, SET, Op
from .patches import Patch, path_of, plain
from .run import Register
from .sequence import Sequence
from .values import Counter, ObjType, wrap_int64

# (a module global: `ObjType.MAP` is a lookup on the enum class, ~70 ns each time)
_MAP, _LIST, _TEXT = ObjType.MAP, ObjType.LIST, ObjType.TEXT

Entry = tuple[int, bytes, Any]
"""A live value op: ``(ctr, actor, value)``; an object value is its :class:`ObjType`."""


class ObjState:
    """One object: its type, where it hangs, and its contents."""

    __slots__ = ("data", "key", "parent", "type")

    def __init__(self, type: ObjType, parent: ObjId, key: Any) -> None:
        self.type = type  # MAP, LIST or TEXT
        self.parent = parent  # the containing object (None for children of the root)
        self.key = key  # map key (str) or element id in the parent list; None for root
        self.data: Any = {} if type == _MAP else Sequence(type == _TEXT)


def _without(entries: list[Entry], pred: tuple[OpId, ...]) -> list[Entry]:
    if not pred:
        return entries
    if len(pred) == 1:
        pc, pa = pred[0]
        return [e for e in entries if not (e[0] == pc and e[1] == pa)]
    ps = set(pred)
    return [e for e in entries if (e[0], e[1]) not in ps]


def _increment(entries: list[Entry], pred: tuple[OpId, ...], delta: int) -> list[Entry]:
    ps = set(pred)
    return [
        (e[0], e[1], Counter(wrap_int64(e[2].value + delta)))
        if (e[0], e[1]) in ps and type(e[2]) is Counter
        else e
        for e in entries
    ]


class OpSet:
    """All objects of a document; ``objs[None]`` is the root map."""

    __slots__ = ("objs", "patches", "paths")

    def __init__(self) -> None:
        self.objs: dict[ObjId, ObjState] = {None: ObjState(_MAP, None, None)}
        self.patches: list[Patch] | None = None  # collects patches while observed
        # while observed: the paths path_of found since the last op on a map or a list
        # (ops on a text move no object), None for an object out of the document
        self.paths: dict[ObjId, tuple[str | int, ...] | None] = {}

    # ------------------------------------------------------------ reading

    def copy(self) -> OpSet:
        """An independent copy of every object.  O(objects + runs + map entries)."""
        new = OpSet()
        objs = new.objs
        for oid, st in self.objs.items():
            ns = ObjState.__new__(ObjState)
            ns.type, ns.parent, ns.key = st.type, st.parent, st.key
            if st.type == _MAP:
                ns.data = {k: list(es) for k, es in st.data.items()}
            else:
                ns.data = st.data.copy()
            objs[oid] = ns
        return new

    def to_py(self, obj: ObjId) -> Any:
        """Object ``obj`` as plain Python (dict, list, str, scalars; counters stay
        :class:`~crdt.values.Counter`).  O(its size, nested objects included)."""
        st = self.objs[obj]
        if st.type == _MAP:
            return {k: self._shown(es[-1]) for k, es in st.data.items()}
        seq: Sequence = st.data
        if st.type == _TEXT:
            return seq.text()
        out: list[Any] = []
        for r in seq.runs():
            if r.deleted:
                continue
            if r.reg:
                out.append(self._shown(r.content[0].entries[-1]))
            else:
                for i, v in enumerate(r.content):
                    out.append(self.to_py((r.ctr + i, r.actor)) if type(v) is ObjType else v)
        return out

    def _shown(self, e: tuple[int, bytes, Any]) -> Any:
        """The value live entry ``e`` shows: a scalar as it is, an object with all it holds
        now (:meth:`to_py` and patches both ask).  In a patch, an object an op has just
        made is empty (its contents follow as patches of their own); one made before may
        not be, and the view has not seen it: it was out of view, since a concurrent write
        won the key, until a later write or delete uncovered it again.  O(1), or the size
        of that object."""
        v = e[2]
        return self.to_py((e[0], e[1])) if type(v) is ObjType else v

    # ------------------------------------------------------------ applying

    def apply(self, op: Op, ctr: int, actor: bytes) -> None:
        """Apply one verified op whose (first) id is ``(ctr, actor)``."""
        a = op[0]
        obj = op[1]
        st = self.objs[obj]
        patches = self.patches
        if patches is not None and st.type is not _TEXT:
            self.paths.clear()  # (an op on a map or a list may move or hide any object)
        if a == INS:
            run = st.data.integrate_insert(op[2], ctr, actor, op[3])
            if patches is not None:
                self._patch_insert(obj, st, run, ctr, op[3])
        elif a == REM:
            elem = op[2]
            removed = st.data.remote_delete(elem[0], elem[1], op[3], patches is not None)
            if patches is not None and removed:
                path = path_of(self, obj)
                if path is not None:
                    for idx, n in removed:
                        patches.append(Patch("delete", path, idx, length=n))
        elif a == INS_MAKE:
            typ = op[3]
            run = st.data.integrate_insert(op[2], ctr, actor, [typ])
            self.objs[(ctr, actor)] = ObjState(typ, obj, (ctr, actor))
            if patches is not None:
                self._patch_insert(obj, st, run, ctr, [typ])
        else:
            key = op[2]
            pred = op[-1]
            if type(key) is str:
                data = st.data
                entries = data.get(key)
                old = entries[-1] if entries and patches is not None else None
                if entries is None:
                    entries = []
                elif pred:
                    entries = _without(entries, pred) if a != INC else entries
                if a == SET or a == MAKE:
                    entry = (ctr, actor, op[3])
                    if entries and (entries[-1][0], entries[-1][1]) > (ctr, actor):
                        insort(entries, entry)
                    else:
                        entries.append(entry)
                    if a == MAKE:
                        self.objs[(ctr, actor)] = ObjState(op[3], obj, key)
                elif a == INC:
                    entries = _increment(entries, pred, op[3])
                if entries:
                    data[key] = entries
                else:
                    data.pop(key, None)
                if patches is not None:
                    path = path_of(self, obj)
                    if path is not None:
                        if entries:
                            w = entries[-1]
                            # a losing concurrent write leaves the view as it is
                            if old is None or old[:2] != w[:2] or a == INC:
                                v = self._shown(w)
                                patches.append(
                                    Patch("put", path, key, v, conflict=len(entries) > 1)
                                )
                        elif old is not None:
                            patches.append(Patch("delete", path, key))
            else:
                seq: Sequence = st.data
                run = seq.register_at(key[0], key[1])
                reg: Register = run.content[0]
                entries = reg.entries
                old = entries[-1] if entries else None
                if a == INC:
                    entries = _increment(entries, pred, op[3])
                else:
                    entries = _without(entries, pred)
                    if a == SET or a == MAKE:
                        insort(entries, (ctr, actor, op[3]))
                        if a == MAKE:
                            self.objs[(ctr, actor)] = ObjState(op[3], obj, key)
                was_visible = not run.deleted
                seq.set_register(run, entries)
                if patches is not None:
                    self._patch_elem(obj, seq, run, was_visible, old, a == INC)

    # ------------------------------------------------------------ patches

    def _patch_insert(self, obj: ObjId, st: ObjState, run: Any, ctr: int, content: Any) -> None:
        path = path_of(self, obj)
        if path is None or self.patches is None:
            return
        idx = st.data.index_of(run, ctr - run.ctr)
        if st.type == _TEXT:
            self.patches.append(Patch("splice", path, idx, content))
        else:
            self.patches.append(Patch("insert", path, idx, [plain(v) for v in content]))

    def _patch_elem(
        self, obj: ObjId, seq: Sequence, run: Any, was_visible: bool, old: Any, inc: bool
    ) -> None:
        path = path_of(self, obj)
        if path is None or self.patches is None:
            return
        idx = seq.index_of(run)
        entries = run.content[0].entries
        if run.deleted:
            if was_visible:
                self.patches.append(Patch("delete", path, idx))
        elif was_visible:
            if old is not None and old[:2] == entries[-1][:2] and not inc:
                return  # a losing concurrent write leaves the view as it is
            self.patches.append(
                Patch(
                    "put",
                    path,
                    idx,
                    self._shown(entries[-1]),
                    conflict=len(entries) > 1,
                )
            )
        else:
            self.patches.append(Patch("insert", path, idx, [self._shown(entries[-1])]))
