"""`podium challenge versions|use-version|reevaluate|compare` on the server's database: what they print and refuse.
The re-evaluation's run by a worker: tests/integration/test_reevaluation.py."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from app.cli import main
from app.models import Phase, ReevaluationRun, Score, TestSet
from app.usecases.users import create_user
from tests.fixtures.scored import succeeded_run
from tests.integration.helpers import CHALLENGE, PHASE, apply_example

WHERE = f"{CHALLENGE}/{PHASE}"


def test_the_operator_lists_re_evaluates_and_switches(resources, settings) -> None:  # type: ignore[no-untyped-def]
    apply_example(resources)
    with resources.session() as session:
        phase = session.scalars(select(Phase)).one()
        lab, _ = create_user(session, "lab")
        submission, run = succeeded_run(session, phase, lab)
        session.add(Score(run_id=run.id, metric="auroc", value=0.9))
        session.add(TestSet(phase_id=phase.id, version=2, content_hash="d" * 64, storage_prefix="x/v2", case_count=5))
    cli = CliRunner()

    listed = cli.invoke(main, ["challenge", "versions", WHERE])
    assert listed.exit_code == 0 and "* v1: 228 cases" in listed.output and "  v2: 5 cases" in listed.output

    unknown = cli.invoke(main, ["challenge", "reevaluate", WHERE, "9"])
    assert unknown.exit_code != 0 and "no test set version 9 (versions: v1, v2)" in unknown.output
    bad = cli.invoke(main, ["challenge", "reevaluate", WHERE, "2", "--submissions", "1,x"])
    assert bad.exit_code != 0 and "separated by commas" in bad.output
    zero = cli.invoke(main, ["challenge", "reevaluate", WHERE, "2", "--budget", "0"])
    assert zero.exit_code != 0 and "budget" in zero.output

    started = cli.invoke(main, ["challenge", "reevaluate", WHERE, "2", "--submissions", str(submission.id)])
    assert started.exit_code == 0, started.output
    assert "1 submission(s) on v2, 1 queued now (budget 2)" in started.output
    with resources.session() as session:
        assert [row.submission_id for row in session.scalars(select(ReevaluationRun))] == [submission.id]
    assert "re-evaluation 1 on v2 (budget 2, selected): 0 done, 0 failed, 0 running, 1 pending" in \
        cli.invoke(main, ["challenge", "versions", WHERE]).output

    switched = cli.invoke(main, ["challenge", "use-version", WHERE, "2"])
    assert switched.exit_code == 0 and "ranks on test set v2 now (5 cases)" in switched.output
    assert "* v2: 5 cases" in cli.invoke(main, ["challenge", "versions", WHERE]).output
