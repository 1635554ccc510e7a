"""The Node peers (Automerge, Yjs, Loro) run by ``bench/js/run_trace.mjs`` in subprocesses."""

from __future__ import annotations

import shutil
from pathlib import Path

JS_DIR = Path(__file__).resolve().parent / "js"
RUNNER = JS_DIR / "run_trace.mjs"

# table name -> run_trace.mjs engine argument
NODE_ENGINES: dict[str, str] = {"automerge": "automerge", "yjs": "yjs", "loro-js": "loro"}
PACKAGES: dict[str, str] = {
    "automerge": "@automerge/automerge",
    "yjs": "yjs",
    "loro-js": "loro-crdt",
}


def node_binary() -> str | None:
    return shutil.which("node")


def availability() -> tuple[bool, str | None]:
    """(usable, notice): why the Node peers are skipped, if they are."""
    if node_binary() is None:
        return (
            False,
            "node not found: Automerge/Yjs/Loro (Node) peers skipped; "
            "running the Python side alone",
        )
    if not RUNNER.exists():
        return False, f"{RUNNER} missing: Node peers skipped"
    if not (JS_DIR / "node_modules").is_dir():
        return (
            False,
            "bench/js/node_modules missing: run make bench to install (Node peers skipped)",
        )
    missing = [p for p in PACKAGES.values() if not (JS_DIR / "node_modules" / p).is_dir()]
    if missing:
        return (
            False,
            f"bench/js/node_modules lacks {', '.join(missing)}: "
            "run make bench to install (Node peers skipped)",
        )
    return True, None


def command(engine: str, trace: Path, mode: str, repeats: int) -> list[str]:
    node = node_binary() or "node"
    # --expose-gc: run_trace.mjs collects garbage between repeats when it can.
    return [
        node,
        "--expose-gc",
        str(RUNNER),
        NODE_ENGINES[engine],
        str(trace),
        mode,
        "--repeats",
        str(repeats),
    ]


def baseline_command(engine: str) -> list[str]:
    """A node process that imports the engine's package and does nothing (run in JS_DIR)."""
    node = node_binary() or "node"
    js = (
        f"await import({PACKAGES[engine]!r}); "
        "const rss = process.resourceUsage().maxRSS; "
        "process.stdout.write(JSON.stringify({peak_rss_kib: rss, ok: true}) + '\\n')"
    )
    return [node, "--input-type=module", "-e", js]
