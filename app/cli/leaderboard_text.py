"""A leaderboard as a plain-text table (CLI and demo)."""

from __future__ import annotations

from typing import Any

NOT_PUBLISHED = "The organisers have not published this phase's results yet."


def format_leaderboard(board: dict[str, Any], analysis: dict[str, Any] | None = None,
                       sites: list[str] | None = None) -> str:
    """The board's columns are its `metrics` (the phase's leaderboard_columns, in order, applied by the server).
    `sites`: the sites holding the phase's cases, when they are held at sites (docs/sites.md); said under the table."""
    metrics = [m["name"] for m in board["metrics"]]
    across = board.get("ranking_across")
    ranking = (analysis or {}).get("combined_ranking") or (analysis or {}).get("rankings", {}).get(
        board["ranking_metric"], {})
    uncertainty = {e["entry"]: e for e in ranking.get("uncertainty", {}).get("entries", [])}
    prices = board.get("prices")
    header = ["#", "participant", "submission", *[f"{m} [95% CI]" for m in metrics], "run s", "s/case"]
    if prices:
        header += [f"cost/case {prices.get('currency') or ''}".rstrip()]
    if across:
        header += [f"{across['combine']} rank"]
    if uncertainty:
        header += ["median rank [95%]", "P(first)"]
    rows = []
    for row in board["rows"]:
        rank = str(row["rank"])
        u = uncertainty.get(row["participant"])
        if u and u["not_different_from_leader"] and u["reported_rank"] != 1:
            rank += " ="
        who = f"{row['participant']} (team)" if row.get("is_team") else row["participant"]
        cells = [rank, who, str(row["submission_id"])]
        for name in metrics:
            score = row["scores"].get(name) or {}
            value, low, high = score.get("value"), score.get("ci_low"), score.get("ci_high")
            text = "-" if value is None else f"{value:.4f}"
            if low is not None and high is not None:
                text += f" [{low:.3f}, {high:.3f}]"
            cells.append(text)
        seconds = row.get("container_seconds")
        cells.append("-" if seconds is None else f"{seconds:.1f}")
        per_case = row.get("seconds_per_case")
        cells.append(("-" if per_case is None else f"{per_case:.3g}")
                     + _spread(row.get("seconds_per_case_median"), row.get("seconds_per_case_p95")))
        if prices:
            cost = row.get("cost_per_case")
            cells.append(("-" if cost is None else f"{cost:.3g}")
                         + _spread(row.get("cost_per_case_median"), row.get("cost_per_case_p95")))
        if across:
            cells.append("-" if row.get("rank_score") is None else f"{row['rank_score']:.2f}")
        if uncertainty:
            cells += [f"{u['median_rank']} [{u['rank_low']}-{u['rank_high']}]", f"{u['p_first']:.2f}"] if u \
                else ["-", "-"]
        rows.append(cells)
    for baseline in (board.get("baselines") or []) if rows else []:  # readers: marked, not ranked
        cells = ["-", f"{baseline['name']} (reader)", ""]
        for name in metrics:
            score = baseline["scores"].get(name) or {}
            value, low, high = score.get("value"), score.get("ci_low"), score.get("ci_high")
            cells.append("-" if value is None else f"{value:.4f}" + (f" [{low:.3f}, {high:.3f}]"
                                                                     if low is not None and high is not None else ""))
        cells += [""] * (len(header) - len(cells))
        rows.append(cells)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"{board['challenge']} / {board['phase']} (sorted by {board['sorted_by']})",
             "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    published = board.get("published", True)
    if not rows:
        lines.append(NOT_PUBLISHED if not published else "(no scored submissions)")
    elif not published:
        lines.append("(results hidden from participants: only organisers and admins see these rows)")
    if rows and board.get("ranks_provisional"):
        lines.append(f"ranks are provisional: the {board.get('ranking_scheme')} ranking is being computed, so rows "
                     f"are ranked by {board['ranking_metric']} for now")
    if rows and across and board["sorted_by"] == board["ranking_metric"]:
        ranked = ", ".join(f"{m['metric']} ({m['order']}, weight {m['weight']:g})" for m in across["metrics"])
        lines.append(f"'#': the {across['combine']} of each entry's ranks on {ranked}"
                     + (f", each ranked {board['ranking_scheme']}"
                        if board.get("ranking_scheme", "aggregate-then-rank") != "aggregate-then-rank" else ""))
    elif rows and board.get("ranking_scheme", "aggregate-then-rank") != "aggregate-then-rank" \
            and board["sorted_by"] == board["ranking_metric"] and not board.get("ranks_provisional"):
        lines.append(f"'#': the {board['ranking_scheme']} ranking of {board['ranking_metric']}")
    if rows and board["rows"]:
        per_case_runs = any(row.get("seconds_per_case_median") is not None for row in board["rows"])
        lines.append(("s/case: the mean of the cases' own runs (one container run per case), with their median and "
                      "95th percentile" if per_case_runs else
                      "s/case: each run's wall time divided by the cases it processed (one container sees every "
                      "case: no time of each case)") + (f"; cost/case at {_prices_text(prices)}" if prices else ""))
    if uncertainty:
        tau = ranking["uncertainty"].get("kendall_tau_mean")
        kind = ("bootstrap replicates (unpaired for a set-level metric at sites: no case id crosses a site)"
                if sites else "paired bootstrap replicates")
        lines.append(f"'=' not significantly different from the leader; ranks from {ranking['replicates']} {kind}"
                     + (f"; Kendall's tau vs reported ranking {tau:.2f}" if tau is not None else ""))
    if rows and sites:
        lines.append(f"pooled from {len(sites)} site{'s' if len(sites) != 1 else ''} ({', '.join(sites)}): each ran "
                     "the containers on the cases it holds; hidden data stayed at each site, only scores came back")
    # Every metric's breakdowns; an analysis stored before they existed has only the ranking metric's.
    by_metric = (analysis or {}).get("metric_breakdowns") or (
        {board["ranking_metric"]: analysis["breakdowns"]} if analysis and analysis.get("breakdowns") else {})
    for metric, per_column in by_metric.items():
        for column, per_entry in per_column.items():
            lines.append(f"{metric} by {column}:")
            for entry, groups in per_entry.items():
                parts = [f"{g['group']} {g['value']:.3f} [{g['ci_low']:.3f}, {g['ci_high']:.3f}] (n={g['n_cases']})"
                         if g.get("defined") and g.get("ci_low") is not None else f"{g['group']} undefined"
                         for g in groups]
                lines.append(f"  {entry}: " + "; ".join(parts))
    return "\n".join(lines)


def _prices_text(prices: dict[str, Any]) -> str:
    currency = f" {prices['currency']}" if prices.get("currency") else ""
    parts = [f"{prices[key]:g}{currency} per {unit}" for key, unit in
             (("cpu_hour", "CPU-hour"), ("gb_hour", "GiB-hour of peak memory"), ("gpu_hour", "GPU-hour"))
             if prices.get(key) is not None]
    return ", ".join(parts)


def _spread(median: float | None, p95: float | None) -> str:
    """Per-case mode: " (median M, p95 P)" of the cases' own figures; nothing in batch mode."""
    return "" if median is None or p95 is None else f" (median {median:.3g}, p95 {p95:.3g})"
