"""``python -m bench``: every (trace, mode, engine) in its own worker subprocess.

Prints a progress line per worker on stderr, then the table on stdout, and writes
``bench/results/results.json``, ``results.md`` and ``chart.png``.  See docs/benchmarks.md.
Exit status 0 if every row is ok (or skipped), 1 if one is not (a wrong text, a crash, a
timeout: the files still hold it), 2 if the run could not start.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import engines as py_engines
from bench import node, traces

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PY = sys.executable

DEFAULT_ENGINES = ["ours", "loro-py", "pycrdt", "automerge", "yjs", "loro-js"]
# ours with merging off (a change per commit), on request: what a change per keystroke costs
ALL_ENGINES = [*DEFAULT_ENGINES, "ours-unmerged"]
REFERENCE = "automerge"
PYCRDT_ONE_TXN_LIMIT = 100_000  # patches; pycrdt's one-transaction mode is slow past this


@dataclass
class Job:
    trace_path: Path
    trace: str
    mode: str
    engine: str
    n_patches: int
    n_txns: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description="Replay editing traces on ours, Automerge, Yjs and Loro; print the table.",
    )
    ap.add_argument(
        "--quick", action="store_true", help="CI smoke run: 1 repeat, small sequential traces only"
    )
    ap.add_argument(
        "--repeats", type=int, default=None, help="repeats per worker (default 3; --quick: 1)"
    )
    ap.add_argument(
        "--engines", default=None, help=f"comma-separated subset of {','.join(ALL_ENGINES)}"
    )
    ap.add_argument(
        "--traces",
        default=None,
        help="comma-separated trace names (e.g. automerge-paper,clownschool) or paths",
    )
    ap.add_argument(
        "--ascii-only",
        action="store_true",
        help="also run the sequential/ascii_only copies of the traces",
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds per repeat a worker may take before it is killed (default 300)",
    )
    ap.add_argument(
        "--full",
        action="store_true",
        help=f"run pycrdt one-transaction mode on traces > {PYCRDT_ONE_TXN_LIMIT:,} patches too",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results directory (default bench/results; --quick: bench/results/quick, so a "
        "smoke run never replaces the committed full results)",
    )
    ap.add_argument("--no-chart", action="store_true", help="skip chart.png")
    ap.add_argument(
        "--no-interleave",
        action="store_true",
        help="run each engine's repeats in one worker, back to back (default: every repeat "
        "is its own worker, and the engines of a trace take turns, so a slow spell of the "
        "machine falls on all of them alike)",
    )
    a = ap.parse_args(argv)
    if a.repeats is None:
        a.repeats = 1 if a.quick else 3
    if a.out is None:
        a.out = RESULTS / "quick" if a.quick else RESULTS
    if a.repeats < 1:
        ap.error("--repeats needs a positive integer")
    a.engine_list = (
        DEFAULT_ENGINES
        if a.engines is None
        else [e.strip() for e in a.engines.split(",") if e.strip()]
    )
    bad = [e for e in a.engine_list if e not in ALL_ENGINES]
    if bad:
        ap.error(f"unknown engine(s) {', '.join(bad)}; choose from {', '.join(ALL_ENGINES)}")
    return a


def log(msg: str, end: str = "\n") -> None:
    sys.stderr.write(msg + end)
    sys.stderr.flush()


# --------------------------------------------------------------------------- running


def run_subprocess(
    cmd: list[str], timeout: float, cwd: Path | None = None
) -> tuple[str, dict[str, Any] | None, str]:
    """(status, parsed JSON line or None, stderr tail); status is ok|TIMEOUT|ERROR."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE.parent) + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # the worker's own process group only
        except ProcessLookupError:
            pass
        p.communicate()
        return "TIMEOUT", None, ""
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith(("{", "["))), None)
    if line is None:
        return "ERROR", None, (err or out).strip()[-400:] or f"exit code {p.returncode}"
    try:
        return "ok", json.loads(line), err.strip()[-400:]
    except json.JSONDecodeError:
        return "ERROR", None, line[:400]


def worker_command(job: Job, repeats: int, timeout: float) -> tuple[list[str], Path | None]:
    if job.engine in py_engines.PY_ENGINES:
        return [
            PY,
            "-m",
            "bench.worker",
            job.engine,
            str(job.trace_path),
            job.mode,
            "--repeats",
            str(repeats),
            "--timeout",
            str(timeout),
        ], None
    return node.command(job.engine, job.trace_path, job.mode, repeats), None


def baseline(engine: str, timeout: float) -> dict[str, Any] | None:
    if engine in py_engines.PY_ENGINES:
        status, res, _ = run_subprocess([PY, "-m", "bench.worker", engine, "--baseline"], timeout)
    else:
        status, res, _ = run_subprocess(node.baseline_command(engine), timeout, cwd=node.JS_DIR)
    return res if status == "ok" and res and res.get("ok") else None


def merge_raws(raws: list[dict[str, Any]]) -> dict[str, Any]:
    """One worker result from several one-repeat workers of the same job: timings are
    pooled, peak RSS is the largest, and the job is ok only if every worker was."""
    out = dict(raws[0])
    for k in ("b1_ms", "b2_ms", "load_ms", *EXTRA_MS):
        if any(k in r for r in raws):
            out[k] = [x for r in raws for x in (r.get(k) or [])]
    for k in ("peak_rss_kib", "rss_after_load_kib"):
        vals = [r[k] for r in raws if r.get(k) is not None]
        if vals:
            out[k] = max(vals)
    out["ok"] = all(r.get("ok") for r in raws)
    errors = [str(r["error"]) for r in raws if r.get("error")]
    out["error"] = "; ".join(errors) if errors else None
    out["timeout"] = any(r.get("timeout") for r in raws)
    return out


def stats(xs: list[float]) -> tuple[float | None, float | None, float | None]:
    if not xs:
        return None, None, None
    return statistics.median(xs), min(xs), max(xs)


def make_record(
    job: Job,
    status: str,
    raw: dict[str, Any] | None,
    err: str,
    base_kib: int | None,
    note: str | None = None,
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "trace": job.trace,
        "engine": job.engine,
        "mode": job.mode,
        "version": None,
        "status": status,
        "ok": False,
        "error": None,
        "n_txns": job.n_txns,
        "n_patches": job.n_patches,
    }
    if raw is not None:
        rec["version"] = raw.get("version")
        rec["ok"] = bool(raw.get("ok"))
        rec["error"] = raw.get("error")
        rec["status"] = "ok" if rec["ok"] else "TIMEOUT" if raw.get("timeout") else "FAILED"
        for k in ("b1_ms", "b2_ms", "load_ms", *EXTRA_MS):
            if k in EXTRA_MS and k not in raw:  # (a step this engine does not have)
                continue
            # a row that is not correct is not timed: no median a reader could take for
            # one (its repeats stay in ``_runs``, for diagnosis)
            med, lo, hi = stats(raw.get(k) or []) if rec["ok"] else (None, None, None)
            rec[k], rec[f"{k}_min"], rec[f"{k}_max"] = med, lo, hi
            rec[f"{k}_runs"] = raw.get(k) or []
        rec["save_bytes"] = raw.get("save_bytes")
        if "snapshot_bytes" in raw:
            rec["snapshot_bytes"] = raw["snapshot_bytes"]
        rec["n_changes"] = raw.get("n_changes")
        rec["peak_rss_kib"] = raw.get("peak_rss_kib")
        rec["baseline_rss_kib"] = base_kib
        if base_kib is not None and raw.get("peak_rss_kib") is not None:
            rec["rss_above_baseline_kib"] = raw["peak_rss_kib"] - base_kib
        for k in (
            "b2_note",
            "b2_stream_note",
            "peak_rss_stream_kib",
            "positions",
            "forks",
            "merges",
            "leaves",
            "adopt_forks",
            "rss_after_load_kib",
        ):
            if k in raw:
                rec[k] = raw[k]
    else:
        rec["error"] = err or None
    if note:
        rec["note"] = note
    return rec


def describe(rec: dict[str, Any]) -> str:
    if rec["status"] == "ok":
        b1, b2, ld = (fmt_ms(rec[k]) for k in ("b1_ms", "b2_ms", "load_ms"))
        return f"ok  B1 {b1} ms  B2 {b2} ms  load {ld} ms"
    if rec["status"] == "FAILED":
        return f"FAILED: {rec.get('error')}"
    return f"{rec['status']}{': ' + str(rec['error']) if rec.get('error') else ''}"


# --------------------------------------------------------------------------- formatting


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_cell(rec: dict[str, Any], k: str) -> str:
    med = rec.get(k)
    if med is None:
        return "-"
    lo, hi = rec.get(f"{k}_min"), rec.get(f"{k}_max")
    if lo is None or hi is None or len(rec.get(f"{k}_runs") or []) < 2:
        return fmt_ms(med)
    return f"{fmt_ms(med)} [{fmt_ms(lo)}-{fmt_ms(hi)}]"


def fmt_mb(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    r = a / b
    return f"{r:.2f}x" if r < 10 else f"{r:.0f}x"


COLUMNS = [
    "engine",
    "version",
    "mode",
    "B1 ms median [min-max]",
    "B2 ms",
    "load ms",
    "save KB",
    "changes",
    "RSS MB",
    "+RSS MB",
    "ok",
]


def table_rows(recs: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in recs:
        if r["status"] == "ok":
            cells = [
                fmt_cell(r, "b1_ms"),
                fmt_cell(r, "b2_ms"),
                fmt_cell(r, "load_ms"),
                f"{r['save_bytes'] / 1000:,.1f}" if r.get("save_bytes") is not None else "-",
                f"{r['n_changes']:,}" if isinstance(r.get("n_changes"), int) else "-",
                fmt_mb(r.get("peak_rss_kib")),
                fmt_mb(r.get("rss_above_baseline_kib")),
                "ok",
            ]
        else:
            label = r["status"] if r["status"] != "SKIPPED" else "skipped"
            cells = [
                label,
                "",
                "",
                "",
                "",
                fmt_mb(r.get("peak_rss_kib")) if r["status"] == "FAILED" else "",
                "",
                r["status"],
            ]
        rows.append([r["engine"], r.get("version") or "", r["mode"], *cells])
    return rows


def render_text(rows: list[list[str]]) -> str:
    widths = [max(len(COLUMNS[i]), *(len(row[i]) for row in rows)) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def render_md(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


EXTRA_MS = (
    "snapshot_load_ms",
    "verified_load_ms",
    "history_decode_ms",
    "b2_stream_ms",
    "b2_floor_ms",
)
"""Timings only some engines report: ours its snapshot, verifying and deferred loads, and
B2's floor, hashing its changes (the worker adds them when the adapter has the step); Yjs,
on concurrent traces, B2 as its change stream (``b2_stream_ms``) beside B2 as its merged
state."""


def ratio_lines(recs: list[dict[str, Any]]) -> list[str]:
    """'B1 ours/automerge = 0.09x'-style lines per mode, against every other engine."""
    lines = []
    by = {(r["engine"], r["mode"]): r for r in recs if r["status"] == "ok"}
    modes = sorted({r["mode"] for r in recs}, key=["one", "per-patch", "concurrent"].index)
    others = ["automerge", "yjs", "loro-js", "loro-py", "pycrdt"]
    for mode in modes:
        ours = by.get(("ours", mode))
        if ours is None:
            continue
        for other in others:
            o = by.get((other, mode))
            if o is None:
                continue
            parts = [
                f"{k} ours/{other} = {ratio(ours.get(f), o.get(f))}"
                for k, f in (
                    ("B1", "b1_ms"),
                    ("B2", "b2_ms"),
                    ("load", "load_ms"),
                    ("save", "save_bytes"),
                )
            ]
            for what, k in (
                ("snapshot load", "snapshot_load_ms"),
                ("verified load", "verified_load_ms"),
            ):
                if ours.get(k) is not None:
                    parts.append(
                        f"{what} ours/{other} load = {ratio(ours.get(k), o.get('load_ms'))}"
                    )
            if o.get("b2_stream_ms") is not None:
                parts.append(
                    f"B2 ours/{other} change stream = {ratio(ours.get('b2_ms'), o['b2_stream_ms'])}"
                )
            if ours.get("b2_floor_ms") is not None:
                parts.append(
                    f"B2 floor ours/{other} = {ratio(ours['b2_floor_ms'], o.get('b2_ms'))}"
                )
            lines.append(f"  [{mode}] " + ", ".join(parts))
        if ours.get("snapshot_load_ms") is not None:
            lines.append(
                f"  [{mode}] ours snapshot: {ours['snapshot_bytes'] / 1000:,.1f} KB, "
                f"cold start {fmt_ms(ours['snapshot_load_ms'])} ms"
            )
        if ours.get("b2_floor_ms") is not None:
            lines.append(
                f"  [{mode}] ours B2 floor (hashing its {ours.get('n_changes')} changes, "
                f"nothing else): {fmt_ms(ours['b2_floor_ms'])} ms of B2's "
                f"{fmt_ms(ours.get('b2_ms'))} ms"
            )
        if ours.get("verified_load_ms") is not None:
            lines.append(
                f"  [{mode}] ours load is lazy (checkpoint; history decoded on first use): "
                f"verified load {fmt_ms(ours['verified_load_ms'])} ms, decoding the deferred "
                f"history {fmt_ms(ours.get('history_decode_ms'))} ms"
            )
    return lines


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal"):
                mem = f"{int(ln.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    nodev = None
    if node.node_binary():
        try:
            nodev = subprocess.run(
                [node.node_binary() or "node", "--version"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "node": nodev,
        "loadavg_1min_at_start": load,
    }


# --------------------------------------------------------------------------- main


def select_traces(a: argparse.Namespace) -> list[Path]:
    if a.traces:
        return [traces.resolve_trace(t.strip()) for t in a.traces.split(",") if t.strip()]
    found = traces.find_traces(ascii_only=a.ascii_only)
    if a.quick:
        found = [
            p
            for p in found
            if p.parent.name != "concurrent"
            and traces.trace_name(p).split("/")[-1] not in traces.BIG_TRACES
        ]
    return found


def run_back_to_back(
    jobs: list[Job], repeats: int, timeout: float, baselines: dict[str, int | None]
) -> list[dict[str, Any]]:
    """One worker per job, doing all its repeats."""
    # Python workers stop themselves when one repeat exceeds --timeout; every worker is
    # killed when the whole run exceeds --timeout x repeats (+ slack for startup).
    hard = timeout * repeats + 30
    records = []
    for i, job in enumerate(jobs, 1):
        log(f"[{i:>3}/{len(jobs)}] {job.trace:<28} {job.mode:<10} {job.engine:<9} ", end="")
        cmd, cwd = worker_command(job, repeats, timeout)
        t0 = time.perf_counter()
        status, raw, err = run_subprocess(cmd, hard, cwd)
        wall = time.perf_counter() - t0
        note = f"killed after {hard:.0f} s" if status == "TIMEOUT" else None
        rec = make_record(job, status, raw, err, baselines.get(job.engine), note)
        rec["wall_s"] = round(wall, 2)
        records.append(rec)
        log(f"{wall:7.1f} s  {describe(rec)}")
    return records


def run_interleaved(
    jobs: list[Job], repeats: int, timeout: float, baselines: dict[str, int | None]
) -> list[dict[str, Any]]:
    """Every repeat in a fresh worker; per trace and mode, the engines take turns (repeat k
    starts at the k-th engine), so machine speed drifting over minutes -- it does here --
    shifts every engine's median alike instead of one engine's.  A job that fails or times
    out is not repeated."""
    hard = timeout + 30
    groups: dict[tuple[str, str], list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.trace, job.mode), []).append(job)
    total = len(jobs) * repeats
    done = 0
    records = []
    for group in groups.values():
        raws: dict[int, list[dict[str, Any]]] = {k: [] for k in range(len(group))}
        failed: dict[int, tuple[str, dict[str, Any] | None, str, str | None]] = {}
        walls = dict.fromkeys(range(len(group)), 0.0)
        for r in range(repeats):
            for k in [(r + j) % len(group) for j in range(len(group))]:
                job = group[k]
                done += 1
                if k in failed:
                    continue
                log(
                    f"[{done:>3}/{total}] {job.trace:<28} {job.mode:<10} {job.engine:<9} "
                    f"{r + 1}/{repeats} ",
                    end="",
                )
                cmd, cwd = worker_command(job, 1, timeout)
                t0 = time.perf_counter()
                status, raw, err = run_subprocess(cmd, hard, cwd)
                wall = time.perf_counter() - t0
                walls[k] += wall
                note = f"killed after {hard:.0f} s" if status == "TIMEOUT" else None
                one = make_record(job, status, raw, err, baselines.get(job.engine), note)
                log(f"{wall:7.1f} s  {describe(one)}")
                if status != "ok" or raw is None or not raw.get("ok"):
                    failed[k] = (status, raw, err, note)
                else:
                    raws[k].append(raw)
        for k, job in enumerate(group):
            if k in failed:
                status, raw, err, note = failed[k]
                rec = make_record(job, status, raw, err, baselines.get(job.engine), note)
            else:
                rec = make_record(job, "ok", merge_raws(raws[k]), "", baselines.get(job.engine))
                rec["workers"] = len(raws[k])
            rec["wall_s"] = round(walls[k], 2)
            records.append(rec)
    return records


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    started = time.time()
    root = traces.traces_dir()
    if not root.is_dir():
        log(f"traces directory {root} not found (set CRDT_TRACES)")
        return 2
    engine_list: list[str] = list(a.engine_list)
    node_ok, notice = node.availability()
    if not node_ok and any(e in node.NODE_ENGINES for e in engine_list):
        log(f"NOTICE: {notice}")
        engine_list = [e for e in engine_list if e not in node.NODE_ENGINES]
    try:
        paths = select_traces(a)
    except FileNotFoundError as exc:
        log(str(exc))
        return 2
    if a.quick:
        log(
            "quick run: 1 repeat, small sequential traces only (paper, seph-blog1 and the "
            "concurrent traces are left out)"
        )

    # Trace sizes come from a subprocess: see the note in bench/traces.py.
    status, res, err = run_subprocess([PY, "-m", "bench.traces", *map(str, paths)], 600)
    if status != "ok" or not isinstance(res, list):
        log(f"could not read the traces: {status} {err}")
        return 2
    jobs: list[Job] = []
    skipped: list[tuple[Job, str]] = []
    for m in res:
        p, name, npatch, ntx = Path(m["path"]), m["name"], m["n_patches"], m["n_txns"]
        for mode in m["modes"]:
            for eng in engine_list:
                job = Job(p, name, mode, eng, npatch, ntx)
                if (
                    eng == "pycrdt"
                    and mode == "one"
                    and npatch > PYCRDT_ONE_TXN_LIMIT
                    and not a.full
                ):
                    note = (
                        f"pycrdt one-transaction mode skipped on {name} ({npatch:,} patches > "
                        f"{PYCRDT_ONE_TXN_LIMIT:,}; it takes minutes); pass --full to run it"
                    )
                    skipped.append((job, note))
                    log(f"note: {note}")
                    continue
                jobs.append(job)

    baselines: dict[str, int | None] = {}
    for eng in engine_list:
        res = baseline(eng, 120)
        baselines[eng] = res["peak_rss_kib"] if res else None
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    log(f"orchestrator peak RSS {own / 1024:.0f} MB (a floor for the workers' ru_maxrss)")
    log(
        "baseline RSS (interpreter + engine imported): "
        + ", ".join(f"{e} {fmt_mb(k)} MB" for e, k in baselines.items())
    )

    records: list[dict[str, Any]] = [
        make_record(j, "SKIPPED", None, "", None, n) for j, n in skipped
    ]
    if a.no_interleave or a.repeats == 1:
        records += run_back_to_back(jobs, a.repeats, a.timeout, baselines)
    else:
        records += run_interleaved(jobs, a.repeats, a.timeout, baselines)

    trace_order = list(dict.fromkeys(traces.trace_name(p) for p in paths))
    mode_order = ["one", "per-patch", "concurrent"]
    records.sort(
        key=lambda r: (
            trace_order.index(r["trace"]),
            mode_order.index(r["mode"]),
            ALL_ENGINES.index(r["engine"]),
        )
    )

    # ---- table
    out_txt: list[str] = []
    out_md: list[str] = []
    for tname in trace_order:
        recs = [r for r in records if r["trace"] == tname]
        if not recs:
            continue
        r0 = recs[0]
        kind = "concurrent" if r0["mode"] == "concurrent" else "sequential"
        head = f"{tname}  ({kind}, {r0['n_txns']:,} txns, {r0['n_patches']:,} patches)"
        rows = table_rows(recs)
        rl = ratio_lines(recs)
        out_txt += ["", f"== {head}", render_text(rows)]
        out_md += ["", f"### {head}", "", render_md(rows)]
        if rl:
            out_txt += ["ratios (ours / other; < 1 means ours is faster or smaller):", *rl]
            out_md += [
                "",
                "Ratios (ours / other; < 1 means ours is faster or smaller):",
                "",
                *[f"- {x.strip()}" for x in rl],
            ]
    problems = [r for r in records if r["status"] not in ("ok", "SKIPPED")]
    if problems:
        out_txt += ["", "not ok:"] + [
            f"  {r['trace']} {r['mode']} {r['engine']}: {r['status']}"
            f"{' - ' + str(r['error']) if r.get('error') else ''}"
            f"{' (' + r['note'] + ')' if r.get('note') else ''}"
            for r in problems
        ]
    elapsed = time.time() - started
    info = machine_info()
    foot = (
        f"repeats {a.repeats}"
        f"{'' if a.no_interleave or a.repeats == 1 else ' (each its own worker, engines in turn)'}"
        f"; medians [min-max] in ms; RSS = peak ru_maxrss of the worker, "
        f"+RSS = above the idle interpreter with the engine imported; "
        f"{info['cores']} cores, {info['cpu']}; run took {elapsed / 60:.1f} min"
    )
    out_txt += ["", foot]
    out_md += ["", foot]
    print("\n".join(out_txt).lstrip("\n"))

    # ---- files
    a.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "repeats": a.repeats,
        "interleaved": not a.no_interleave and a.repeats > 1,
        "timeout_per_repeat_s": a.timeout,
        "quick": a.quick,
        "traces_dir": str(root),
        "elapsed_s": round(elapsed, 1),
        "machine": info,
        "baseline_rss_kib": baselines,
        "node_notice": notice if not node_ok else None,
        "orchestrator_rss_kib": own,
    }
    (a.out / "results.json").write_text(
        json.dumps({"meta": meta, "results": records}, indent=1) + "\n"
    )
    (a.out / "results.md").write_text("\n".join(out_md).lstrip("\n") + "\n")
    log(f"wrote {a.out / 'results.json'} and {a.out / 'results.md'}")
    if not a.no_chart:
        try:
            from bench.chart import chart

            chart(
                records, a.out / "chart.png", title=f"{a.repeats} repeat(s), {info['cores']} cores"
            )
            log(f"wrote {a.out / 'chart.png'}")
        except ImportError as exc:
            log(f"chart skipped: {exc}")
    if problems:
        # (after the files: a failed row is in them, shown as failed, not timed)
        log(f"{len(problems)} row(s) not ok (listed under 'not ok' above): exit status 1")
        return 1
    return 0
