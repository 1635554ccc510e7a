"""Live views of a document's objects that behave like ``dict``, ``list`` and ``str``.

A view holds only the document and the object id, so it stays valid as the document
changes.  Edits made outside ``with doc.transaction():`` commit one change each; inside
one, an edit that raises (a bad key deep in a nested value, say) leaves none of its ops,
as a nested ``with doc.transaction():`` block would.

>>> from crdt import Doc
>>> doc = Doc()
>>> doc.root["config"] = {"theme": "dark", "tags": ["a"]}
>>> doc.root["config"]["tags"].append("b")
>>> notes = doc.root.make_text("notes")
>>> notes += "hi"
>>> doc.to_py()
{'config': {'theme': 'dark', 'tags': ['a', 'b']}, 'notes': 'hi'}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping, MutableSequence
from typing import TYPE_CHECKING, Any, overload

from .errors import UsageError
from .ids import ObjId
from .sequence import Sequence
from .values import ObjType

if TYPE_CHECKING:
    from .doc import Doc
    from .transaction import Transaction

# (a module global: `ObjType.MAP` is a lookup on the enum class, ~70 ns each time)
_MAP, _LIST, _TEXT = ObjType.MAP, ObjType.LIST, ObjType.TEXT


def _view(doc: Doc, obj: ObjId, typ: ObjType) -> Any:
    return (Map, List, Text)[typ](doc, obj)


def _new(tx: Transaction, obj: ObjId, key: str | int, typ: ObjType, insert: bool) -> ObjId:
    if insert:
        if type(key) is not int:
            raise UsageError(f"list indexes are int, got {type(key).__name__}")
        return tx.insert_object(obj, key, typ)
    return tx.make(obj, key, typ)


def _assign(tx: Transaction, obj: ObjId, key: str | int, value: Any, insert: bool) -> None:
    """Write ``value`` at ``key`` (or insert it at index ``key``), recursing into
    plain dicts and lists, which become nested maps and lists."""
    if isinstance(value, dict):
        oid = tx.insert_object(obj, key, _MAP) if insert else tx.make(obj, key, _MAP)  # type: ignore[arg-type]
        for k, v in value.items():
            if not isinstance(k, str):
                raise UsageError("map keys must be str")
            _assign(tx, oid, k, v, False)
    elif isinstance(value, list | tuple):
        oid = _new(tx, obj, key, _LIST, insert)
        for i, v in enumerate(value):
            _assign(tx, oid, i, v, True)
    elif insert:
        tx.insert(obj, key, [value])  # type: ignore[arg-type]
    else:
        tx.put(obj, key, value)


class _Obj:
    __slots__ = ("_doc", "_obj")

    def __init__(self, doc: Doc, obj: ObjId) -> None:
        self._doc = doc  # the document this view reads and edits
        self._obj = obj  # the object's id (None: the root map)

    @property
    def id(self) -> ObjId:
        """The object id (the op id of the make op that created it)."""
        return self._obj

    @property
    def doc(self) -> Doc:
        return self._doc

    def _state(self) -> Any:
        return self._doc._opset.objs[self._obj].data

    def _read(self, e: tuple[int, bytes, Any]) -> Any:
        v = e[2]
        return _view(self._doc, (e[0], e[1]), v) if type(v) is ObjType else v

    def to_py(self) -> Any:
        return self._doc._to_py(self._obj)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Obj):
            return self._doc is other._doc and self._obj == other._obj
        return bool(self.to_py() == other)

    __hash__ = None  # type: ignore[assignment]


class Map(_Obj, MutableMapping[str, Any]):
    """A map view: ``m[k]``, ``m[k] = v``, ``del m[k]``, iteration, ``len``.

    Reading a nested object gives its view; assigning a ``dict`` or ``list`` creates a
    nested map or list.  Get/set/delete are O(1) plus the value's size.
    """

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        es = self._state().get(key)
        if not es:
            raise KeyError(key)
        return self._read(es[-1])

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise UsageError("map keys must be str")
        with self._doc.transaction() as tx:
            _assign(tx, self._obj, key, value, False)

    def __delitem__(self, key: str) -> None:
        if key not in self._state():
            raise KeyError(key)
        with self._doc.transaction() as tx:
            tx.delete(self._obj, key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._state()))

    def __len__(self) -> int:
        return len(self._state())

    def __contains__(self, key: object) -> bool:
        return key in self._state()

    def __repr__(self) -> str:
        return f"Map({self.to_py()!r})"

    def make_map(self, key: str) -> Map:
        """Put a new empty map at ``key`` and return its view."""
        with self._doc.transaction() as tx:
            return Map(self._doc, tx.make(self._obj, key, _MAP))

    def make_list(self, key: str) -> List:
        with self._doc.transaction() as tx:
            return List(self._doc, tx.make(self._obj, key, _LIST))

    def make_text(self, key: str, initial: str = "") -> Text:
        """Put a new text at ``key`` (optionally with content) and return its view."""
        with self._doc.transaction() as tx:
            oid = tx.make(self._obj, key, _TEXT)
            if initial:
                tx.insert(oid, 0, initial)
            return Text(self._doc, oid)

    def increment(self, key: str, delta: int = 1) -> None:
        """Add ``delta`` to the :class:`Counter` at ``key``."""
        with self._doc.transaction() as tx:
            tx.increment(self._obj, key, delta)

    def conflicts(self, key: str) -> list[Any]:
        """Every concurrent value at ``key``, the visible one last."""
        return [self._read(e) for e in self._state().get(key, [])]


class List(_Obj, MutableSequence[Any]):
    """A list view: indexing, slicing reads, ``append``, ``insert``, ``del``, ``len``, and
    the rest of ``list``'s methods (``pop``, ``remove``, ``index``, ``count``, ``clear``,
    ``reverse``, ``in``, ``+=``: a :class:`collections.abc.MutableSequence`).

    Index reads and writes are O(chunk) near the last position used, O(runs/64) far away.

    >>> from crdt import Doc
    >>> doc = Doc()
    >>> xs = doc.root.make_list("xs")
    >>> xs += [3, 1, 2]
    >>> xs.remove(1); xs.pop(), xs.index(3), 3 in xs, xs.to_py()
    (2, 0, True, [3])
    """

    __slots__ = ()

    def _seq(self) -> Sequence:
        return self._state()  # type: ignore[no-any-return]

    def __len__(self) -> int:
        return self._seq().vis

    def _norm(self, i: int) -> int:
        n = self._seq().vis
        if not isinstance(i, int):
            raise UsageError("list indexes are int")
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"list index {i} out of range")
        return i

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        run, off = self._seq().element_at(self._norm(i))
        if run.reg:
            return self._read(run.content[0].entries[-1])
        return self._read((run.ctr + off, run.actor, run.content[off]))

    @overload
    def __setitem__(self, i: int, value: Any) -> None: ...
    @overload
    def __setitem__(self, i: slice, value: Iterable[Any]) -> None: ...
    def __setitem__(self, i: int | slice, value: Any) -> None:
        if isinstance(i, slice):
            self._set_slice(i, list(value))
            return
        i = self._norm(i)
        with self._doc.transaction() as tx:
            self._set(tx, i, value)

    def _set(self, tx: Transaction, i: int, value: Any) -> None:
        if isinstance(value, dict | list | tuple):
            tx.remove(self._obj, i, 1)
            _assign(tx, self._obj, i, value, True)
        else:
            tx.put(self._obj, i, value)

    def _set_slice(self, sl: slice, values: list[Any]) -> None:
        """``xs[a:b] = values`` (the stretch's elements removed, ``values`` inserted there)
        or ``xs[a:b:k] = values`` (as many values as the slice has elements, each written
        at its index), as ``list`` does; one commit."""
        start, stop, step = sl.indices(len(self))
        with self._doc.transaction() as tx:
            if step == 1:
                if stop > start:
                    tx.remove(self._obj, start, stop - start)
                for k, v in enumerate(values):
                    _assign(tx, self._obj, start + k, v, True)
                return
            at = range(start, stop, step)
            if len(at) != len(values):
                raise UsageError(
                    f"attempt to assign a sequence of size {len(values)} to an extended "
                    f"slice of size {len(at)}"
                )
            for k, v in zip(at, values, strict=True):
                self._set(tx, k, v)

    def __delitem__(self, i: int | slice) -> None:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            at = range(start, stop, step)
            with self._doc.transaction() as tx:
                if step == 1 and stop > start:
                    tx.remove(self._obj, start, stop - start)
                elif step != 1:
                    for k in sorted(at, reverse=True):  # (from the end: indexes hold)
                        tx.remove(self._obj, k, 1)
            return
        i = self._norm(i)
        with self._doc.transaction() as tx:
            tx.remove(self._obj, i, 1)

    def __iter__(self) -> Iterator[Any]:
        for k in range(len(self)):
            yield self[k]

    def __repr__(self) -> str:
        return f"List({self.to_py()!r})"

    def insert(self, i: int, value: Any) -> None:
        """Insert ``value`` before index ``i`` (``dict``/``list`` become nested objects)."""
        if type(i) is not int:
            raise UsageError(f"list indexes are int, got {type(i).__name__}")
        n = len(self)
        if i < 0:
            i = max(0, i + n)
        i = min(i, n)
        with self._doc.transaction() as tx:
            _assign(tx, self._obj, i, value, True)

    def append(self, value: Any) -> None:
        self.insert(len(self), value)

    def extend(self, values: Iterable[Any]) -> None:
        """Append scalars as one run-length encoded insert (objects one by one)."""
        with self._doc.transaction() as tx:
            if all(not isinstance(v, dict | list | tuple) for v in values):
                tx.insert(self._obj, len(self), list(values))
            else:
                for v in values:
                    _assign(tx, self._obj, len(self), v, True)

    def delete(self, i: int, n: int = 1) -> None:
        """Delete ``n`` elements from index ``i``."""
        with self._doc.transaction() as tx:
            tx.remove(self._obj, i, n)

    def clear(self) -> None:
        """Delete every element: one remove, one commit (not one a ``pop``)."""
        with self._doc.transaction() as tx:
            n = len(self)
            if n:
                tx.remove(self._obj, 0, n)

    def reverse(self) -> None:
        """Reverse in place, as one commit: each element is written with the value of
        its mirror (objects cannot be written so: :class:`UsageError`, nothing changed)."""
        with self._doc.transaction():
            n = len(self)
            values = [self[i] for i in range(n)]
            for i in range(n // 2):
                self[i], self[n - 1 - i] = values[n - 1 - i], values[i]

    def insert_map(self, i: int) -> Map:
        with self._doc.transaction() as tx:
            return Map(self._doc, tx.insert_object(self._obj, i, _MAP))

    def insert_list(self, i: int) -> List:
        with self._doc.transaction() as tx:
            return List(self._doc, tx.insert_object(self._obj, i, _LIST))

    def insert_text(self, i: int, initial: str = "") -> Text:
        with self._doc.transaction() as tx:
            oid = tx.insert_object(self._obj, i, _TEXT)
            if initial:
                tx.insert(oid, 0, initial)
            return Text(self._doc, oid)

    def increment(self, i: int, delta: int = 1) -> None:
        with self._doc.transaction() as tx:
            tx.increment(self._obj, self._norm(i), delta)


class Text(_Obj):
    """A text view that reads like ``str``: ``str(t)``, ``len(t)``, ``t[i]``, ``t[a:b]``,
    ``s in t``, iteration; and writes like a list of characters: ``t += s``,
    ``t[a:b] = s``, ``del t[a:b]`` (contiguous slices), ``insert``, ``delete``,
    ``splice``.

    Positions count Unicode code points.  Edits are O(chunk) near the last one; reads
    build the string, O(n).

    >>> from crdt import Doc
    >>> t = Doc().root.make_text("t")
    >>> t += "hello world"
    >>> t[0:5] = "Hi"; del t[2]; "world" in t, str(t)
    (True, 'Hiworld')
    """

    __slots__ = ()

    def _seq(self) -> Sequence:
        return self._state()  # type: ignore[no-any-return]

    def __str__(self) -> str:
        return self._seq().text()

    def __len__(self) -> int:
        return self._seq().vis

    def __getitem__(self, i: int | slice) -> str:
        return str(self)[i]

    def __repr__(self) -> str:
        return f"Text({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str(self) == other
        return super().__eq__(other)

    __hash__ = None

    def __iter__(self) -> Iterator[str]:
        # (without it, Python iterated by t[0], t[1], ...: a string built per character)
        return iter(str(self))

    def __contains__(self, s: object) -> bool:
        """A substring test, as ``str``'s (without it, ``in`` compared characters one by
        one, and ``"ab" in t`` was always False)."""
        if not isinstance(s, str):
            raise TypeError(f"'in <Text>' requires a str as left operand, not {type(s).__name__}")
        return s in str(self)

    def _span(self, i: int | slice) -> tuple[int, int]:
        n = len(self)
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            if step != 1:
                raise UsageError("a text is written and deleted by contiguous slices (step 1)")
            return start, max(0, stop - start)
        if type(i) is not int:
            raise UsageError(f"text positions are int, got {type(i).__name__}")
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"text index {i} out of range")
        return i, 1

    def __setitem__(self, i: int | slice, s: str) -> None:
        """``t[a:b] = s`` replaces the stretch with ``s`` (one splice); ``t[i] = s`` the
        code point at ``i``."""
        pos, n = self._span(i)
        self.splice(pos, n, s)

    def __delitem__(self, i: int | slice) -> None:
        pos, n = self._span(i)
        if n:
            self.delete(pos, n)

    def __iadd__(self, s: str) -> Text:
        self.insert(len(self), s)
        return self

    def insert(self, pos: int, s: str) -> None:
        """Insert ``s`` at code point ``pos``."""
        with self._doc.transaction() as tx:
            tx.insert(self._obj, pos, s)

    def delete(self, pos: int, n: int = 1) -> None:
        """Delete ``n`` code points from ``pos``."""
        with self._doc.transaction() as tx:
            tx.remove(self._obj, pos, n)

    def splice(self, pos: int, delete: int, insert: str = "") -> None:
        """Delete ``delete`` code points at ``pos`` and insert ``insert`` there."""
        with self._doc.transaction() as tx:
            tx.splice(self._obj, pos, delete, insert)
