"""`podium challenge versions|use-version|reevaluate|compare`: test-set versions from the server's own database
(operators, on the server, with its PODIUM_* settings; organisers use the site or the REST API). docs/challenges.md,
"Test-set versions and re-evaluation"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from sqlalchemy.orm import Session

from app.cli.participant import parse_phase
from app.config import Settings, SettingsError

if TYPE_CHECKING:
    from app.resources import Resources


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _session() -> Iterator[tuple[Session, Resources]]:
    from app.errors import ServiceError
    from app.resources import Resources

    resources = Resources(_settings())
    try:
        with resources.session() as session:
            yield session, resources
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        resources.close()


@click.command("versions")
@click.argument("where", metavar="CHALLENGE/PHASE")
def versions(where: str) -> None:
    """List the versions of a phase's test set (* the one it ranks on) and its re-evaluations."""
    from app.queries.phases import get_phase
    from app.queries.test_set_versions import phase_versions, reevaluations

    with _session() as (session, _):
        phase = get_phase(session, *parse_phase(where))
        for line in phase_versions(session, phase):
            mark = "*" if line.current else " "
            click.echo(f"{mark} v{line.version}: {line.case_count} cases, stored {line.created_at:%Y-%m-%d %H:%M}, "
                       f"{line.scored_runs} submission(s) scored on it")
        for run in reevaluations(session, phase):
            counts = ", ".join(f"{run.counts.get(state, 0)} {state}" for state in ("done", "failed", "running",
                                                                                  "pending"))
            click.echo(f"re-evaluation {run.id} on v{run.version} (budget {run.budget}, {run.selection}): {counts}")
            for submission_id, why in run.failures:
                click.echo(f"  submission {submission_id} failed: {why.splitlines()[0] if why else ''}")


@click.command("use-version")
@click.argument("where", metavar="CHALLENGE/PHASE")
@click.argument("version", type=click.IntRange(min=1))
def use_version(where: str, version: int) -> None:
    """Rank the phase on VERSION of its test set (new submissions run on it; every version keeps its runs)."""
    from app.queries.phases import get_phase
    from app.usecases.reevaluation import switch_version

    with _session() as (session, _):
        test_set = switch_version(session, get_phase(session, *parse_phase(where)), version, None)
        click.echo(f"{where} ranks on test set v{test_set.version} now ({test_set.case_count} cases)")


@click.command("reevaluate")
@click.argument("where", metavar="CHALLENGE/PHASE")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--budget", default=2, show_default=True, type=int, help="How many runs may go at once.")
@click.option("--submissions", default=None, metavar="ID,ID,...",
              help="These succeeded submissions (default: the phase's final submissions).")
def reevaluate(where: str, version: int, budget: int, submissions: str | None) -> None:
    """Run the phase's final submissions (or --submissions) on VERSION of its test set, as new runs beside their old
    ones; the workers run them, at most --budget at once."""
    from app.queries.phases import get_phase
    from app.tasks.queues import make_reevaluation_enqueuer, reevaluation_gpu_lookup
    from app.usecases.reevaluation import start_reevaluation

    try:
        ids = [int(part) for part in submissions.split(",") if part.strip()] if submissions else None
    except ValueError:
        raise click.UsageError("--submissions takes submission ids separated by commas, e.g. 12,15,31") from None
    with _session() as (session, resources):
        enqueue = make_reevaluation_enqueuer(resources.settings, reevaluation_gpu_lookup(resources))
        started = start_reevaluation(session, enqueue, get_phase(session, *parse_phase(where)), None,
                                     version=version, budget=budget, selection="final" if ids is None else "selected",
                                     submission_ids=ids)
    skipped = f"; {started.skipped} already scored on it" if started.skipped else ""
    click.echo(f"re-evaluation {started.reevaluation_id}: {started.submissions} submission(s) on v{started.version}, "
               f"{started.jobs_queued} queued now (budget {budget}){skipped}; follow it with "
               f"`podium challenge versions {where}`")


@click.command("compare")
@click.argument("where", metavar="CHALLENGE/PHASE")
@click.argument("version_a", type=click.IntRange(min=1))
@click.argument("version_b", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True)
def compare(where: str, version_a: int, version_b: int, as_json: bool) -> None:
    """Each algorithm scored on both versions: the ranking metric with its CI on each, and the difference."""
    from app.queries.phases import get_phase
    from app.queries.test_set_versions import compare_versions, version_test_set

    with _session() as (session, _):
        phase = get_phase(session, *parse_phase(where))
        comparison = compare_versions(session, phase, version_test_set(session, phase, version_a),
                                      version_test_set(session, phase, version_b))
    if as_json:
        click.echo(json.dumps(comparison.as_dict(), indent=2))
        return
    metric = comparison.ranking_metric
    click.echo(f"{where}: {metric} on v{version_a} and v{version_b}")
    for row in comparison.rows:
        a, b, change = row.a.get(metric), row.b.get(metric), row.difference(metric)
        click.echo(f"  {row.participant} (submission {row.submission_id}): {_cell(a)} -> {_cell(b)}"
                   + ("" if change is None else f" ({change:+.4f})"))
    if comparison.only_a:
        click.echo(f"  {comparison.only_a} submission(s) scored on v{version_a} only: re-evaluate them on "
                   f"v{version_b} to compare")


def _cell(cell: object) -> str:
    value = getattr(cell, "value", None)
    if value is None:
        return "-"
    low, high = getattr(cell, "ci_low", None), getattr(cell, "ci_high", None)
    return f"{value:.4f}" + (f" [{low:.4f}, {high:.4f}]" if low is not None and high is not None else "")


COMMANDS = (versions, use_version, reevaluate, compare)
