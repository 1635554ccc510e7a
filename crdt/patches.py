"""Patches: what an observer is told when remote changes alter the document.

A patch names the object by its path from the root (keys and list indexes as they are
when the patch is made) and says what happened there, in the order it happened, so that a
view that applies the patches one by one ends equal to the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .values import ObjType

if TYPE_CHECKING:
    from .ids import ObjId
    from .opset import OpSet

# (a module global: `ObjType.MAP` is a lookup on the enum class, ~70 ns each time)
_MAP, _LIST, _TEXT = ObjType.MAP, ObjType.LIST, ObjType.TEXT


@dataclass(frozen=True, slots=True, init=False)
class Patch:
    """One observed change.

    ``action`` is one of:
    - ``"put"``: map key or list index ``key`` now shows ``value`` (``conflict``: other
      concurrent values exist);
    - ``"delete"``: map key ``key`` is gone, or ``length`` elements from index ``key``;
    - ``"insert"``: list ``values`` inserted at index ``key``;
    - ``"splice"``: text ``value`` inserted at index ``key``.
    New objects appear as an empty ``{}``, ``[]`` or ``""``; their contents follow as
    patches on their own path.  An object that comes back into view (a concurrent write
    had hidden it, and a later write or delete uncovered it) appears with all it holds.
    """

    action: str
    path: tuple[str | int, ...]
    key: str | int
    value: Any = None
    length: int = 1
    conflict: bool = False

    def __init__(
        self,
        action: str,
        path: tuple[str | int, ...],
        key: str | int,
        value: Any = None,
        length: int = 1,
        conflict: bool = False,
    ) -> None:
        # The frozen dataclass's own __init__ sets each field through
        # object.__setattr__ (a global, an attribute and a call each: 0.56 us a patch);
        # the slots' descriptors set them directly (0.36 us), and every observed remote
        # op makes one.  Still frozen: assignment after this raises.
        _set_action(self, action)
        _set_path(self, path)
        _set_key(self, key)
        _set_value(self, value)
        _set_length(self, length)
        _set_conflict(self, conflict)


# (the slots' member descriptors: setting through them skips the frozen __setattr__)
_set_action = vars(Patch)["action"].__set__
_set_path = vars(Patch)["path"].__set__
_set_key = vars(Patch)["key"].__set__
_set_value = vars(Patch)["value"].__set__
_set_length = vars(Patch)["length"].__set__
_set_conflict = vars(Patch)["conflict"].__set__


_EMPTY = {_MAP: dict, _LIST: list, _TEXT: str}


def plain(v: Any) -> Any:
    """A value as a patch shows it (objects as empty containers)."""
    return _EMPTY[v]() if type(v) is ObjType else v


def path_of(opset: OpSet, obj: ObjId) -> tuple[str | int, ...] | None:
    """The current path of ``obj``, or None if it no longer hangs in the document.  O(1)
    for an object whose path was found since the last op on a map or a list (a peer
    typing into one text), else O(depth) and O(C) for each list on the way."""
    if opset.patches is not None:
        paths = opset.paths
        if obj in paths:
            return paths[obj]
        path = _path_of(opset, obj)
        paths[obj] = path
        return path
    return _path_of(opset, obj)


def _path_of(opset: OpSet, obj: ObjId) -> tuple[str | int, ...] | None:
    out: list[str | int] = []
    objs = opset.objs
    while obj is not None:
        st = objs[obj]
        parent = objs[st.parent]
        key = st.key
        if parent.type == _MAP:
            es = parent.data.get(key)
            if not es or (es[-1][0], es[-1][1]) != obj:
                return None
            out.append(key)
        else:
            seq = parent.data
            run = seq.find(key[0], key[1])
            if run is None or run.deleted:
                return None
            if run.reg and (run.content[0].entries[-1][0], run.content[0].entries[-1][1]) != obj:
                return None
            out.append(seq.index_of(run, key[0] - run.ctr))
        obj = st.parent
    out.reverse()
    return tuple(out)
