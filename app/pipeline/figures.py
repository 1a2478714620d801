"""Pictures of a phase analysis as SVG (matplotlib, no display needed)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _svg(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def roc_plot(curves: dict[str, dict[str, list[float]]], title: str,
             readers: dict[str, dict[str, float]] | None) -> bytes:
    figure, axes = plt.subplots(figsize=(5, 5))
    for label, points in curves.items():
        axes.plot(points["fpr"], points["tpr"], label=label, linewidth=1.5)
    for name, point in (readers or {}).items():
        axes.plot(1 - point["specificity"], point["sensitivity"], marker="o", linestyle="none",
                  label=f"{name} (reader)")
    axes.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
    axes.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    axes.legend(loc="lower right", fontsize=8)
    return _svg(figure)


def forest_plot(per_entry: dict[str, list[dict[str, Any]]], column: str) -> bytes:
    rows = [(entry, group) for entry, groups in per_entry.items() for group in groups]
    figure, axes = plt.subplots(figsize=(6, 0.35 * len(rows) + 1.2))
    for y, (_entry, group) in enumerate(reversed(rows)):
        if group.get("value") is None:
            continue
        low, high = group.get("ci_low"), group.get("ci_high")
        if low is not None and high is not None:
            axes.plot([low, high], [y, y], color="black", linewidth=1)
        axes.plot(group["value"], y, marker="s", color="tab:blue")
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels([f"{entry} · {group['group']} (n={group['n_cases']})" for entry, group in reversed(rows)],
                         fontsize=8)
    axes.set(title=f"By {column}, 95% bootstrap CI", xlabel="value")
    return _svg(figure)


def rank_plot(ranking: dict[str, Any]) -> bytes:
    entries = ranking["uncertainty"]["entries"]
    figure, axes = plt.subplots(figsize=(6, 0.4 * len(entries) + 1.2))
    for y, entry in enumerate(reversed(entries)):
        axes.plot([entry["rank_low"], entry["rank_high"]], [y, y], color="black", linewidth=1)
        size = 40 + 400 * entry["p_first"]
        axes.scatter([entry["median_rank"]], [y], s=size, color="tab:orange", zorder=3)
    axes.set_yticks(range(len(entries)))
    axes.set_yticklabels([e["entry"] for e in reversed(entries)], fontsize=8)
    axes.set(title=f"Bootstrap ranks by {ranking['metric']} (dot: median, size: P(first))", xlabel="rank")
    highest = max(e["rank_high"] for e in entries)
    axes.set_xlim(0.5, highest + 0.5)
    axes.set_xticks(range(1, highest + 1))  # ranks are whole numbers
    axes.set_ylim(-0.6, len(entries) - 0.4)  # room for the largest dot at either end
    return _svg(figure)
