"""bench/results/chart.png: B1 and B2 per trace and mode, engines side by side, log scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ENGINE_COLORS = {
    "ours": "#d62728",
    "loro-py": "#9467bd",
    "pycrdt": "#8c564b",
    "automerge": "#1f77b4",
    "yjs": "#2ca02c",
    "loro-js": "#ff7f0e",
    "ours-unmerged": "#f4a3a3",
}
SHORT_MODE = {"one": "one txn", "per-patch": "per patch", "concurrent": "concurrent"}


def chart(records: list[dict[str, Any]], out: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys((r["trace"], r["mode"]) for r in records))
    engines = [e for e in ENGINE_COLORS if any(r["engine"] == e for r in records)]
    by = {(r["trace"], r["mode"], r["engine"]): r for r in records}
    n_e = max(1, len(engines))
    width = 0.8 / n_e
    fig, axes = plt.subplots(2, 1, figsize=(max(10.0, 0.85 * len(groups) + 2), 9), sharex=True)
    for ax, (key, label) in zip(
        axes,
        (
            ("b1_ms", "B1: apply the trace locally (ms)"),
            ("b2_ms", "B2: apply the full history remotely (ms)"),
        ),
        strict=True,
    ):
        for k, eng in enumerate(engines):
            xs, ys, lo, hi, bad = [], [], [], [], []
            for g, (tr, mode) in enumerate(groups):
                r = by.get((tr, mode, eng))
                x = g - 0.4 + width * (k + 0.5)
                if r is None:
                    continue
                if r.get("status") == "ok" and r.get(key):
                    xs.append(x)
                    ys.append(r[key])
                    lo.append(r[key] - (r.get(f"{key}_min") or r[key]))
                    hi.append((r.get(f"{key}_max") or r[key]) - r[key])
                elif r.get("status") in ("TIMEOUT", "FAILED", "ERROR"):
                    bad.append(x)
            ax.bar(
                xs,
                ys,
                width=width,
                color=ENGINE_COLORS[eng],
                label=eng,
                yerr=[lo, hi],
                error_kw={"elinewidth": 0.8, "capsize": 1.5},
            )
            if bad:
                ax.plot(
                    bad,
                    [0.03] * len(bad),
                    "x",
                    color=ENGINE_COLORS[eng],
                    markersize=8,
                    transform=ax.get_xaxis_transform(),
                    clip_on=False,
                )
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.grid(axis="y", which="major", alpha=0.3)
    axes[0].legend(ncol=len(engines), fontsize=8, loc="upper left")
    axes[1].set_xticks(range(len(groups)))
    axes[1].set_xticklabels(
        [f"{t}\n{SHORT_MODE.get(m, m)}" for t, m in groups], rotation=60, ha="right", fontsize=8
    )
    fig.suptitle(
        "Editing-trace replay, median of repeats (bars: min-max; x at the bottom: "
        "failed/timed out)" + (f" - {title}" if title else ""),
        fontsize=10,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
