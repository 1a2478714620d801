"""A leaderboard as a plain-text table (CLI and demo)."""

from __future__ import annotations

from typing import Any


def format_leaderboard(board: dict[str, Any]) -> str:
    metrics = [m["name"] for m in board["metrics"]]
    header = ["#", "participant", "submission", *[f"{m} [95% CI]" for m in metrics], "run s"]
    rows = []
    for row in board["rows"]:
        cells = [str(row["rank"]), row["participant"], str(row["submission_id"])]
        for name in metrics:
            score = row["scores"].get(name) or {}
            value, low, high = score.get("value"), score.get("ci_low"), score.get("ci_high")
            text = "-" if value is None else f"{value:.4f}"
            if low is not None and high is not None:
                text += f" [{low:.3f}, {high:.3f}]"
            cells.append(text)
        seconds = row.get("container_seconds")
        cells.append("-" if seconds is None else f"{seconds:.1f}")
        rows.append(cells)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"{board['challenge']} / {board['phase']} (sorted by {board['sorted_by']})",
             "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    if not rows:
        lines.append("(no scored submissions)")
    return "\n".join(lines)
