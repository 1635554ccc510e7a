"""One benchmark worker: one Python engine, one trace, one mode, N repeats.

    python -m bench.worker <engine> <trace> <one|per-patch|concurrent> [--repeats N]
    python -m bench.worker <engine> --baseline

Prints ONE JSON line with the same schema as ``bench/js/run_trace.mjs``::

    {"engine", "version", "trace", "mode", "b1_ms": [...], "b2_ms": [...], "load_ms": [...],
     "save_bytes", "n_changes", "peak_rss_kib", "ok", "error", ...}

Each worker is its own process, so ``peak_rss_kib`` (``ru_maxrss``) is this engine's own
high-water mark.  ``--baseline`` imports the engine, does nothing, and reports the RSS of
that idle interpreter.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import signal
import sys
import time
import traceback
from typing import Any

from bench import engines, traces


def peak_rss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def _first_diff(a: str, b: str) -> int:
    k = 0
    n = min(len(a), len(b))
    while k < n and a[k] == b[k]:
        k += 1
    return k


EXTRA_MS_KEYS = (
    "b1_ms",
    "b2_ms",
    "load_ms",
    "snapshot_load_ms",
    "verified_load_ms",
    "history_decode_ms",
    "b2_floor_ms",
)


class RepeatTimeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise RepeatTimeout


def run(
    engine: str, trace_spec: str, mode: str, repeats: int, timeout: float = 0
) -> dict[str, Any]:
    """``timeout`` > 0: abort (``"timeout": true``) when one repeat takes longer (seconds)."""
    out: dict[str, Any] = {
        "engine": engine,
        "version": None,
        "trace": None,
        "mode": mode,
        "b1_ms": [],
        "b2_ms": [],
        "load_ms": [],
        "save_bytes": None,
        "n_changes": None,
        "peak_rss_kib": None,
        "ok": False,
        "error": None,
    }
    try:
        path = traces.resolve_trace(trace_spec)
        out["trace"] = traces.trace_name(path)
        E = engines.make(engine)
        out["version"] = E.version
        trace = traces.load_trace(path)
        concurrent = mode == "concurrent"
        if concurrent != traces.is_concurrent(trace):
            raise ValueError(f"mode {mode} does not fit this trace")
        txns = trace["txns"]
        if E.positions == "utf8":
            ascii_only = (trace.get("startContent") or "").isascii() and all(
                p[2].isascii() for p in traces.all_patches(txns)
            )
            if not ascii_only:
                if concurrent:
                    raise ValueError("non-ASCII concurrent trace: UTF-8 conversion not supported")
                txns = traces.to_utf8_patches(trace)
                out["positions"] = "converted code points -> UTF-8 bytes (untimed)"
        out["n_txns"] = len(trace["txns"])
        out["rss_after_load_kib"] = peak_rss_kib()
        expected = trace["endContent"]
        failures: list[str] = []

        def check(step: str, rep: int, got: str) -> None:
            if got != expected and len(failures) < 5:
                k = _first_diff(got, expected)
                failures.append(
                    f"{step} (repeat {rep}): text differs at {k} "
                    f"(len {len(got)} vs {len(expected)})"
                )

        if timeout > 0:
            signal.signal(signal.SIGALRM, _alarm)
        for rep in range(repeats):
            gc.collect()
            if timeout > 0:
                signal.alarm(max(1, math.ceil(timeout)))
            ctx = {"mode": mode, "txns": txns, "startContent": trace.get("startContent")}
            # B1
            if concurrent:
                doc, ms, stats = traces.b1_concurrent(E, {**trace, "txns": txns})
                out.update(stats)
                if getattr(E, "extra_forks", 0):
                    out["adopt_forks"] = E.extra_forks // (rep + 1)
            else:
                doc, ms = traces.b1_sequential(E, trace, txns, mode)
            out["b1_ms"].append(ms)
            check("B1", rep, E.text(doc))
            # B2: the history as the engine's own changes, applied to an empty document
            hist = E.export_history(doc, ctx)
            out["b2_note"] = hist["note"]
            gc.collect()
            t0 = time.perf_counter()
            d2 = E.apply_history(hist)
            txt2 = E.text(d2)
            out["b2_ms"].append((time.perf_counter() - t0) * 1000)
            check("B2", rep, txt2)
            E.free(d2)
            floor = getattr(E, "b2_floor", None)
            if floor is not None:
                gc.collect()
                t0 = time.perf_counter()
                floor(hist)
                out.setdefault("b2_floor_ms", []).append((time.perf_counter() - t0) * 1000)
            del d2, hist
            # B3: save bytes, load time
            data = E.save(doc)
            out["save_bytes"] = len(data)
            gc.collect()
            t0 = time.perf_counter()
            d3 = E.load(data)
            txt3 = E.text(d3)
            out["load_ms"].append((time.perf_counter() - t0) * 1000)
            check("load", rep, txt3)
            E.free(d3)
            del d3, data
            # B3': cold start from a snapshot, where the engine has one (ours: issue 3)
            snap = getattr(E, "snapshot", None)
            if snap is not None:
                sdata = snap(doc)
                out["snapshot_bytes"] = len(sdata)
                gc.collect()
                t0 = time.perf_counter()
                d4 = E.load_snapshot(sdata)
                txt4 = E.text(d4)
                out.setdefault("snapshot_load_ms", []).append((time.perf_counter() - t0) * 1000)
                check("snapshot load", rep, txt4)
                del d4, sdata
            # B3'': ours loads a saved document lazily (its checkpoint); what the deferred
            # history costs is timed too: a verifying load, and decoding it after a lazy one
            verified = getattr(E, "load_verified", None)
            if verified is not None:
                vdata = E.save(doc)
                gc.collect()
                t0 = time.perf_counter()
                d5 = verified(vdata)
                txt5 = E.text(d5)
                out.setdefault("verified_load_ms", []).append((time.perf_counter() - t0) * 1000)
                check("verified load", rep, txt5)
                del d5
                d6 = E.load(vdata)
                gc.collect()
                t0 = time.perf_counter()
                E.decode_history(d6)
                out.setdefault("history_decode_ms", []).append((time.perf_counter() - t0) * 1000)
                del d6, vdata
            out["n_changes"] = E.n_changes(doc, ctx)
            E.free(doc)
            del doc
            signal.alarm(0)
        out["ok"] = not failures
        out["error"] = "; ".join(failures) if failures else None
    except RepeatTimeout:
        out["ok"] = False
        out["timeout"] = True
        out["error"] = f"repeat {len(out['b1_ms']) + 1} took longer than {timeout:g} s"
    except Exception as exc:
        out["ok"] = False
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc(limit=8)
    finally:
        signal.alarm(0)
    for k in EXTRA_MS_KEYS:
        if k in out:
            out[k] = [round(x, 3) for x in out[k]]
    out["peak_rss_kib"] = peak_rss_kib()
    return out


def baseline(engine: str) -> dict[str, Any]:
    out: dict[str, Any] = {"engine": engine, "mode": "baseline", "ok": True, "error": None}
    try:
        E = engines.make(engine)
        out["version"] = E.version
    except Exception as exc:
        out.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    out["peak_rss_kib"] = peak_rss_kib()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__.split("\n")[0])
    ap.add_argument("engine", choices=sorted(engines.PY_ENGINES))
    ap.add_argument("trace", nargs="?")
    ap.add_argument("mode", nargs="?", choices=["one", "per-patch", "concurrent"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--timeout",
        type=float,
        default=0,
        help="abort when one repeat takes longer than this many seconds (0: never)",
    )
    ap.add_argument("--baseline", action="store_true", help="import the engine, do nothing")
    a = ap.parse_args(argv)
    if a.baseline:
        res = baseline(a.engine)
    else:
        if not a.trace or not a.mode:
            ap.error("trace and mode are required (or --baseline)")
        if a.repeats < 1:
            ap.error("--repeats needs a positive integer")
        res = run(a.engine, a.trace, a.mode, a.repeats, a.timeout)
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
