"""Submissions and limits as plain text (the participant's `podium status` and `podium submit --wait`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def when(iso: str | None) -> str:
    """An API time (ISO 8601 with its zone) in this machine's local time, to the minute."""
    if not iso:
        return "-"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def score_text(score: dict[str, Any] | None) -> str:
    score = score or {}
    value, low, high = score.get("value"), score.get("ci_low"), score.get("ci_high")
    text = "-" if value is None else f"{value:.4f}"
    if value is not None and low is not None and high is not None:
        text += f" [{low:.3f}, {high:.3f}]"
    return text


def scores_lines(submission: dict[str, Any]) -> list[str]:
    scores = submission.get("scores") or {}
    if not scores:
        return []
    part = {"public": " (on the public part of the test set)", "private": " (on the private part)"}.get(
        submission.get("scores_subset") or "", "")
    width = max(len(name) for name in scores)
    return [f"scores{part}:"] + [f"  {name.ljust(width)}  {score_text(score)}" for name, score in scores.items()]


def failure_lines(submission: dict[str, Any]) -> list[str]:
    message = submission.get("failure_message")
    if not message:
        return []
    lines = [f"failure: {message}"]
    if submission.get("failure_is_infrastructure"):
        lines.append("  (the platform failed, not your submission: it does not count against your limits)")
    return lines


SITE_STATES = {"running": "running at the site", "done": "done", "failed": "failed"}


def site_state_text(part: dict[str, Any]) -> str:
    """A site's part's state in words; a pending part says that the site may be offline."""
    if part["state"] == "pending":
        return f"waiting for {part['site']}'s worker (the site may be offline; its part runs when it returns)"
    return SITE_STATES.get(part["state"], str(part["state"]))


def sites_lines(submission: dict[str, Any]) -> list[str]:
    """A submission to a phase held at sites: one line per site's part (state, attempts, when it finished), then its
    message as the viewer may read it and, for organisers, the site's own scores."""
    parts = submission.get("sites") or []
    if not parts:
        return []
    width = max(len(str(part["site"])) for part in parts)
    indent = " " * (width + 4)
    lines = ["sites:"]
    for part in parts:
        text = f"  {str(part['site']).ljust(width)}  {site_state_text(part)}"
        if part.get("attempts"):
            text += f"; {part['attempts']} attempt(s)"
        if part.get("finished_at"):
            text += f"; finished {when(part['finished_at'])}"
        if part.get("failure_is_infrastructure"):
            text += " (the platform's fault, not your submission's)"
        lines.append(text)
        if part.get("message"):
            lines.append(f"{indent}{part['message']}")
        scores = part.get("scores") or {}
        if scores:
            lines.append(indent + ", ".join(f"{name} {score_text(score)}" for name, score in scores.items()))
    return lines


def submission_text(submission: dict[str, Any]) -> str:
    """One submission: state, who and when, failure message, run, scores, and where its logs are."""
    s = submission
    lines = [f"submission {s['id']}: {s['state']}",
             f"phase:     {s['challenge']}/{s['phase']}",
             f"by:        {s['participant']}" + (f" for team {s['team']}" if s.get("team") else ""),
             f"submitted: {when(s['created_at'])}" + (f"; finished {when(s['finished_at'])}"
                                                       if s.get("finished_at") else "")]
    if s.get("comment"):
        lines.append(f"comment:   {s['comment']}")
    if s.get("image_tags"):
        lines.append(f"image:     {', '.join(s['image_tags'])}")
    if s.get("selected_final"):
        lines.append("final:     selected as one of your final submissions")
    lines += failure_lines(s)
    lines += sites_lines(s)
    run = s.get("run")
    if run:
        seconds = run.get("container_seconds")
        lines.append(f"run:       exit code {'-' if run.get('exit_code') is None else run['exit_code']}, "
                     f"{'-' if seconds is None else f'{seconds:.1f}'} s in the container, "
                     f"{run['cases_valid']} case(s) with valid outputs, {run['cases_invalid']} invalid")
        lines += [f"note:      {note}" for note in run.get("notes") or []]
        if run.get("stderr_tail"):
            lines.append("stderr (last lines):")
            lines += [f"  {line}" for line in run["stderr_tail"].splitlines()]
    lines += scores_lines(s)
    if s.get("log_visibility") == "full":
        lines.append(f"logs:      podium logs {s['id']} [--stream stderr]")
    return "\n".join(lines)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [header, ["-" * w for w in widths], *rows]]


def submissions_table(challenge: str, phase: str, submissions: list[dict[str, Any]],
                      ranking_metric: str | None) -> str:
    lines = [f"{challenge}/{phase}: your submissions, newest first"]
    if not submissions:
        return "\n".join([*lines, "(none yet)"])
    header = ["id", "submitted", "by", "state", *([ranking_metric] if ranking_metric else []), "final", "comment"]
    rows = []
    for s in submissions:
        score = [score_text((s.get("scores") or {}).get(ranking_metric)).split(" [")[0]] if ranking_metric else []
        comment = s.get("comment") or ""
        rows.append([str(s["id"]), when(s["created_at"]), s["participant"], s["state"], *score,
                     "yes" if s.get("selected_final") else "",
                     comment if len(comment) <= 40 else comment[:39] + "…"])
    return "\n".join([*lines, *table(header, rows)])


def limits_text(limits: dict[str, Any]) -> str:
    """What the entrant has left: today, over the phase's life, and when the next place frees."""
    whose = limits.get("counted_for") or "you"
    text = (f"limits (for {whose}): {limits['remaining_today']} of {limits['per_day']} submissions left now "
            f"({limits['used_today']} used in the last 24 hours)")
    if limits.get("next_frees_at"):
        text += f"; the next place frees at {when(limits['next_frees_at'])}"
    if limits.get("total") is not None:
        text += f"; {limits['used_total']} of {limits['total']} used over the phase"
    if limits.get("refused_today"):
        text += (f"; {limits['refused_today']} of {limits['refused_per_day']} refused uploads allowed in 24 hours "
                 "used")
    return text
