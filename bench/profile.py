"""Where our time goes on one benchmark row: cProfile of B1, B2 or load, summarised.

    python -m bench.profile <trace> <one|per-patch|concurrent> [--step b1|b2|load] [--top N]
    python -m bench.profile <trace> <mode> --step b2 --bare   # no cProfile: for py-spy
    python -m bench.profile <trace> <mode> --floor    # B2's history: hash, decode, apply

The row is built as ``python -m bench`` builds it (``bench.traces`` drives ours), the step
runs once without the profiler for its wall time, then once more under ``cProfile``.  The
summary gives the functions with the most time of their own, and that time by area: a
module of ours, or the C library a built-in belongs to (msgpack, hashing, zlib, ...).

cProfile charges every Python call a fixed overhead, so code made of many small calls
looks heavier than it is; compare shares within one profile, and take absolute figures
from the wall time or from instruction counts.  ``--bare`` runs the step without cProfile
(once, after the row is built), for a sampling profiler that adds no such overhead::

    py-spy record -o b2.svg -- python -m bench.profile automerge-paper per-patch --bare

``--floor`` times what B2's history costs in parts (medians of 5): hashing every change's
bytes (what verifying the log costs before anything is decoded), decoding every change with
the general decoder, and applying the whole history as B2 does.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import engines, traces

STEPS = ("b1", "b2", "load")


@dataclass
class Line:
    """One function's share of a profile."""

    where: str  # ``file:line(function)``, or the built-in's name
    area: str  # what :func:`area_of` groups it under
    calls: int  # primitive calls
    own_s: float  # time in the function itself, callees excluded


@dataclass
class Summary:
    """What :func:`profile_step` measured."""

    trace: str
    mode: str
    step: str
    wall_ms: float  # the step without the profiler
    profiled_ms: float  # the step's own time under cProfile (sum of every function's own)
    lines: list[Line]  # every function, most own time first


_BUILTIN = re.compile(r"<built-in method (?:([\w.]+)\.)?\w+>")
_METHOD = re.compile(r"<method '\w+' of '([\w.]+)' objects>")


def area_of(filename: str, funcname: str) -> str:
    """The area a profiled function counts under: ``crdt/doc.py`` for code of ours (the
    path from the package down), the module of a built-in (``zlib``, ``_blake2``,
    ``msgpack``; ``builtins`` for the interpreter's own types), else the file's name."""
    if filename == "~":
        m = _BUILTIN.fullmatch(funcname)
        if m is not None:
            mod = m.group(1)
            return mod.split(".")[0] if mod else "builtins"
        m = _METHOD.fullmatch(funcname)
        if m is not None:
            name = m.group(1)
            return name.split(".")[0] if "." in name else "builtins"
        return "builtins"
    parts = filename.replace("\\", "/").split("/")
    for pkg in ("crdt", "bench", "msgpack"):
        if pkg in parts:
            i = len(parts) - 1 - parts[::-1].index(pkg)
            return "/".join(parts[i:])
    return parts[-1]


def _build(trace_spec: str, mode: str, step: str) -> tuple[str, Callable[[], Any]]:
    """The trace's name and the step to time, with everything before it done."""
    E = engines.make("ours")
    path = traces.resolve_trace(trace_spec)
    trace = traces.load_trace(path)
    concurrent = mode == "concurrent"
    if concurrent != traces.is_concurrent(trace):
        raise SystemExit(f"mode {mode} does not fit trace {traces.trace_name(path)}")
    expected = trace["endContent"]

    def b1() -> Any:
        if concurrent:
            return traces.b1_concurrent(E, trace)[0]
        return traces.b1_sequential(E, trace, trace["txns"], mode)[0]

    def checked(doc: Any) -> Any:
        if E.text(doc) != expected:
            raise SystemExit(f"{step}: the text differs from the trace's endContent")
        return doc

    if step == "b1":
        return traces.trace_name(path), lambda: checked(b1())
    doc = b1()
    if step == "b2":
        hist = E.export_history(doc, {"mode": mode})
        return traces.trace_name(path), lambda: checked(E.apply_history(hist))
    data = E.save(doc)
    return traces.trace_name(path), lambda: checked(E.load(data))


def profile_step(trace_spec: str, mode: str, step: str) -> Summary:
    """Run ``step`` of ours on the trace twice, bare then under cProfile; summarise."""
    if step not in STEPS:
        raise ValueError(f"step {step!r} is not one of {', '.join(STEPS)}")
    name, fn = _build(trace_spec, mode, step)
    gc.collect()
    t0 = time.perf_counter()
    fn()
    wall_ms = (time.perf_counter() - t0) * 1000
    if step == "b1":  # (b2 and load start from the same bytes again; b1 builds anew)
        name, fn = _build(trace_spec, mode, step)
    gc.collect()
    prof = cProfile.Profile()
    prof.runcall(fn)
    stats: dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    lines = []
    for (filename, lineno, funcname), (pcalls, _ncalls, own, _cum, _callers) in stats.items():
        if filename == "~":
            where = funcname
        else:
            where = f"{area_of(filename, funcname)}:{lineno}({funcname})"
        lines.append(Line(where, area_of(filename, funcname), pcalls, own))
    lines.sort(key=lambda ln: -ln.own_s)
    profiled_ms = sum(ln.own_s for ln in lines) * 1000
    return Summary(name, mode, step, wall_ms, profiled_ms, lines)


@dataclass
class Floor:
    """What :func:`floor` measured: B2's history taken apart, medians in ms."""

    trace: str
    mode: str
    changes: int  # changes in the history
    nbytes: int  # their encoded bytes
    hash_ms: float  # the hash of every change (``Ours.b2_floor``)
    decode_ms: float  # ``decode_change`` of every change
    apply_ms: float  # ``Doc().apply_changes`` of all of them: B2


def floor(trace_spec: str, mode: str, repeats: int = 5) -> Floor:
    """Time hashing, decoding and applying the history B2 applies (ours)."""
    from crdt import Doc
    from crdt.change import decode_change

    name, b1 = _build(trace_spec, mode, "b1")
    E = engines.make("ours")
    hist = E.export_history(b1(), {"mode": mode})
    raws: list[bytes] = hist["data"]
    times: dict[str, list[float]] = {"hash": [], "decode": [], "apply": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        E.b2_floor(hist)  # (what make bench times as b2_floor_ms)
        t1 = time.perf_counter()
        for r in raws:
            decode_change(r)
        t2 = time.perf_counter()
        Doc().apply_changes(raws)
        t3 = time.perf_counter()
        times["hash"].append((t1 - t0) * 1000)
        times["decode"].append((t2 - t1) * 1000)
        times["apply"].append((t3 - t2) * 1000)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    n = sum(len(r) for r in raws)
    return Floor(name, mode, len(raws), n, med["hash"], med["decode"], med["apply"])


def by_area(s: Summary) -> list[tuple[str, float]]:
    """Own time (ms) per area, most first."""
    acc: dict[str, float] = {}
    for ln in s.lines:
        acc[ln.area] = acc.get(ln.area, 0.0) + ln.own_s * 1000
    return sorted(acc.items(), key=lambda kv: -kv[1])


def render(s: Summary, top: int) -> str:
    """The summary as text: the step, its two times, then areas and functions with their
    share of the profiled time."""
    total = s.profiled_ms or 1.0
    out = [
        f"{s.trace} {s.mode} {s.step}: {s.wall_ms:.1f} ms without the profiler, "
        f"{s.profiled_ms:.1f} ms under cProfile",
        "",
        "own time by area:",
    ]
    for area, ms in by_area(s)[:top]:
        out.append(f"  {100 * ms / total:5.1f}%  {ms:9.1f} ms  {area}")
    out += ["", f"the {top} functions with the most own time:"]
    for ln in s.lines[:top]:
        ms = ln.own_s * 1000
        out.append(f"  {100 * ms / total:5.1f}%  {ms:9.1f} ms  {ln.calls:>9}  {ln.where}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    ap.add_argument("trace", help="a trace name (automerge-paper, ascii_only/rustcode, ...)")
    ap.add_argument("mode", choices=["one", "per-patch", "concurrent"])
    ap.add_argument("--step", choices=STEPS, default="b2")
    ap.add_argument("--top", type=int, default=15, help="lines per table")
    ap.add_argument("--bare", action="store_true", help="run the step once, no cProfile")
    ap.add_argument(
        "--floor", action="store_true", help="B2's history: hash, decode and apply it, timed"
    )
    a = ap.parse_args(argv)
    if a.top < 1:
        ap.error("--top needs a positive integer")
    if a.floor:
        f = floor(a.trace, a.mode)
        sys.stdout.write(
            f"{f.trace} {a.mode} B2's history: {f.changes:,} changes, {f.nbytes:,} bytes; "
            f"hashing them {f.hash_ms:.1f} ms, decoding them {f.decode_ms:.1f} ms, "
            f"applying them (B2) {f.apply_ms:.1f} ms (medians of 5)\n"
        )
        return 0
    if a.bare:
        name, fn = _build(a.trace, a.mode, a.step)
        t0 = time.perf_counter()
        fn()
        ms = (time.perf_counter() - t0) * 1000
        sys.stdout.write(f"{name} {a.mode} {a.step}: {ms:.1f} ms\n")
        return 0
    sys.stdout.write(render(profile_step(a.trace, a.mode, a.step), a.top) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
