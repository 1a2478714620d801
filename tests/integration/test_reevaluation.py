"""Test-set versions with a real worker: a changed test set is kept beside the one the leaderboard ranks on, three
submissions (and one that breaks on the new data) are re-evaluated on it within a budget of two runs at once, the
new version's leaderboard ranks them, the old version's runs are untouched, and the organiser switches."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import docker
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app import create_app
from app.cli import main
from app.config import Settings
from app.models import (
    Challenge,
    EvaluationRun,
    Phase,
    ReevaluationRun,
    ReevaluationRunState,
    Score,
    Submission,
    SubmissionShard,
    SubmissionState,
    TestSet,
)
from app.queries.leaderboard import build_leaderboard
from app.resources import Resources
from app.tasks.queues import submission_queue
from app.usecases.apply_challenge import apply_challenge
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from runners.images import save_image
from tests.conftest import EXAMPLE_CHALLENGE
from tests.fixtures.docker_engine import build_image, remove_image
from tests.integration.helpers import (
    CHALLENGE,
    PHASE,
    apply_example,
    drain_queue,
    make_user,
    prepared_challenge,
    submit_archive,
)
from tests.integration.test_per_case_mode import gc_archive  # noqa: F401 - the per-case algorithm's image

# Writes the same likelihood for every case it is given; exits 3 when the case named in DROPPED is not among them.
PICKY_ALGORITHM = """
import json, os, sys
cases = [c["case_id"] for c in json.load(open("/input/cases.json"))]
if os.environ["DROPPED"] not in cases:
    print("expected case", os.environ["DROPPED"], file=sys.stderr)
    sys.exit(3)
for case in cases:
    os.makedirs(f"/output/{case}", exist_ok=True)
    open(f"/output/{case}/malignancy-likelihood.json", "w").write("0.5")
"""


API = f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}"


def _first_case(folder: Path) -> str:
    return (folder / "data" / "test" / "cases.csv").read_text().splitlines()[1].split(",")[0]


@pytest.fixture(scope="module")
def picky_archive(docker_client: docker.DockerClient, python_base_image: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Succeeds on the example's test set; fails (exit 3) once its first case is gone."""
    tag = "podium-test/picky:latest"
    dropped = _first_case(prepared_challenge(EXAMPLE_CHALLENGE))
    build_image(docker_client, f'FROM {python_base_image}\nENV DROPPED={dropped}\nCOPY picky.py /picky.py\n'
                'CMD ["python3", "/picky.py"]\n', {"picky.py": PICKY_ALGORITHM}, tag)
    archive = tmp_path_factory.mktemp("picky") / "picky.tar.gz"
    save_image(docker_client, tag, archive)
    yield archive
    remove_image(docker_client, tag)


def _changed_copy(tmp_path: Path) -> Path:
    """The example challenge with its first test case dropped: a new version of the test set."""
    copy = tmp_path / "bcw-v2"
    shutil.copytree(prepared_challenge(EXAMPLE_CHALLENGE), copy)
    cases_csv = copy / "data" / "test" / "cases.csv"
    lines = cases_csv.read_text().splitlines()
    cases_csv.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    return copy


def _scores(resources: Resources, test_set_id: int) -> dict[int, dict[str, float | None]]:
    with resources.session() as session:
        rows = session.execute(select(EvaluationRun.submission_id, Score.metric, Score.value)
                               .join(Score, Score.run_id == EvaluationRun.id)
                               .where(EvaluationRun.test_set_id == test_set_id)).all()
    found: dict[int, dict[str, float | None]] = {}
    for sid, metric, value in rows:
        found.setdefault(sid, {})[metric] = value
    return found


def _most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                    key=lambda e: (e[0], e[1]))
    most = running = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def test_three_submissions_are_re_evaluated_on_a_new_version(settings: Settings, resources: Resources,  # type: ignore[no-untyped-def]
                                                             baseline_archives, picky_archive: Path,
                                                             tmp_path: Path) -> None:
    apply_example(resources)
    client = create_app(settings).test_client()
    archives = [baseline_archives["logistic-regression"].archive, baseline_archives["single-feature"].archive,
                baseline_archives["logistic-regression"].archive, picky_archive]
    ids = []
    for number, archive in enumerate(archives):
        status, body = submit_archive(client, make_user(resources, f"team-{number}"), archive, f"algorithm {number}")
        assert status == 201, body
        ids.append(body["id"])
    drain_queue(settings)
    with resources.session() as session:
        assert [session.get(Submission, sid).state for sid in ids] == [SubmissionState.SUCCEEDED] * 4  # type: ignore[union-attr]
        v1 = session.scalars(select(Phase)).one().current_test_set_id
    assert v1 is not None
    before = _scores(resources, v1)
    board_v1 = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard").get_json()
    assert len(board_v1["rows"]) == 4

    # A changed test set: v2 is stored beside v1, and the leaderboard stays on v1 (it is not emptied).
    with resources.session() as session:
        report = apply_challenge(session, resources.store, _changed_copy(tmp_path))
    assert report.phases[0].test_set_version == 2
    assert any("still ranks on v1" in warning for warning in report.warnings), report.warnings
    with resources.session() as session:
        phase = session.scalars(select(Phase)).one()
        assert phase.current_test_set_id == v1
        v2 = session.scalars(select(TestSet.id).where(TestSet.version == 2)).one()
        phase.shards = 2  # sharded from now on: a re-evaluation runs unsharded (one container sees every case)
    assert client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard").get_json()["rows"] == \
        board_v1["rows"]

    # An organiser re-evaluates the four on v2, two at once, through the API.
    with resources.session() as session:
        organiser, token = create_user(session, "organiser")
        add_organiser(session, session.scalars(select(Challenge)).one(), organiser.username)
    headers = {"Authorization": f"Bearer {token}"}
    versions = client.get(f"{API}/test-set/versions", headers=headers).get_json()
    assert [(v["version"], v["current"], v["scored_runs"]) for v in versions["versions"]] == [(1, True, 4),
                                                                                            (2, False, 0)]
    answer = client.post(f"{API}/reevaluations", headers=headers,
                         json={"version": 2, "budget": 2, "selection": "selected", "submission_ids": ids})
    assert answer.status_code == 202, answer.get_json()
    started = answer.get_json()
    assert started["counts"] == {"pending": 4, "running": 0, "done": 0, "failed": 0} and not started["finished"]
    assert submission_queue(settings, False).count == 2  # the budget: the other two wait for a turn
    drain_queue(settings)
    progress = client.get(f"{API}/reevaluations/{started['id']}", headers=headers).get_json()
    assert progress["counts"] == {"pending": 0, "running": 0, "done": 3, "failed": 1} and progress["finished"]
    assert [f["submission_id"] for f in progress["failures"]] == [ids[3]]
    analysis_v2 = client.get(f"{API}/analysis?version=2")  # a scored row queued its version's analysis
    assert analysis_v2.status_code == 200 and sorted(analysis_v2.get_json()["submission_ids"]) == sorted(ids[:3])
    assert sorted(client.get(f"{API}/analysis").get_json()["submission_ids"]) == sorted(ids)  # v1's, as it was

    with resources.session() as session:
        rows = {row.submission_id: row for row in session.scalars(select(ReevaluationRun)).all()}
        states = {sid: row.state for sid, row in rows.items()}
        assert states == {ids[0]: ReevaluationRunState.DONE, ids[1]: ReevaluationRunState.DONE,
                          ids[2]: ReevaluationRunState.DONE, ids[3]: ReevaluationRunState.FAILED}
        failed = rows[ids[3]]
        assert "exit" in (failed.message or "") and "3" in (failed.message or ""), failed.message  # the run's message
        assert _most_at_once([(row.started_at, row.finished_at) for row in rows.values()  # type: ignore[misc]
                              if row.started_at and row.finished_at]) <= 2
        assert all(row.attempts == 1 for row in rows.values())
        assert session.scalars(select(SubmissionShard)).all() == []
        # The submissions are untouched: still succeeded, their v1 runs as they were.
        assert [session.get(Submission, sid).state for sid in ids] == [SubmissionState.SUCCEEDED] * 4  # type: ignore[union-attr]
    assert _scores(resources, v1) == before
    after = _scores(resources, v2)
    assert sorted(after) == sorted(ids[:3])  # the picky one has a run on v2 but no scores
    assert after[ids[0]] == after[ids[2]]  # the same algorithm scores the same on the same data

    # v2's leaderboard ranks the three; v1's is the same as before.
    with resources.session() as session:
        phase = session.scalars(select(Phase)).one()
        board_v2 = build_leaderboard(session, phase, test_set_id=v2)
        assert [row.submission_id for row in board_v2.rows] and \
            {row.submission_id for row in board_v2.rows} == set(ids[:3])
        assert board_v2.rows[0].scores["auroc"].value == max(v["auroc"] or 0 for v in after.values())
    assert client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard").get_json()["rows"] == \
        board_v1["rows"]
    versioned = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard?version=2").get_json()
    assert {row["submission_id"] for row in versioned["rows"]} == set(ids[:3])
    assert versioned["test_set_version"] == 2

    # Each algorithm on v1 and v2: the same algorithm's change is the same; the picky one is on v1 only.
    comparison = client.get(f"{API}/compare?a=1&b=2").get_json()
    assert [row["submission_id"] for row in comparison["rows"]] == [row.submission_id for row in board_v2.rows]
    assert comparison["only_a"] == 1
    for row in comparison["rows"]:
        cell = row["metrics"]["auroc"]
        assert cell["difference"] == pytest.approx(cell["b"]["value"] - cell["a"]["value"])
        assert cell["a"]["value"] == before[row["submission_id"]]["auroc"]
    cli = CliRunner()
    printed = cli.invoke(main, ["challenge", "compare", f"{CHALLENGE}/{PHASE}", "1", "2"])
    assert printed.exit_code == 0 and "1 submission(s) scored on v1 only" in printed.output, printed.output

    # The operator switches: the phase ranks on v2 (new submissions run on it).
    switched = cli.invoke(main, ["challenge", "use-version", f"{CHALLENGE}/{PHASE}", "2"])
    assert switched.exit_code == 0 and "ranks on test set v2" in switched.output, switched.output
    listed = cli.invoke(main, ["challenge", "versions", f"{CHALLENGE}/{PHASE}"])
    assert "* v2: 227 cases" in listed.output and "3 done, 1 failed" in listed.output, listed.output
    with resources.session() as session:
        assert session.scalars(select(Phase)).one().current_test_set_id == v2
    board = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard").get_json()
    assert {row["submission_id"] for row in board["rows"]} == set(ids[:3])
    assert json.dumps(board["rows"]) == json.dumps(versioned["rows"])
    old = cli.invoke(main, ["leaderboard", CHALLENGE, PHASE, "--version", "1", "--json"])
    assert old.exit_code == 0, old.output
    assert [row["submission_id"] for row in json.loads(old.output)["rows"]] == \
        [row["submission_id"] for row in board_v1["rows"]]


def test_a_per_case_submission_is_re_evaluated_on_a_new_version(resources: Resources, settings: Settings,  # type: ignore[no-untyped-def]
                                                                 gc_archive: Path, tmp_path: Path) -> None:  # noqa: F811
    """Per-case mode: each case of the new version runs in its own container; the case that fails is reported per
    case there too; the outputs are kept under the version's folder, the submission's own are untouched."""
    from tests.integration.test_per_case_mode import AGES, FAILING, _challenge
    from tests.integration.test_per_case_mode import CHALLENGE as PER_CASE
    from tests.integration.test_per_case_mode import PHASE as TEST

    folder = tmp_path / "challenge"
    folder.mkdir()
    with resources.session() as session:
        apply_challenge(session, resources.store, _challenge(folder))
    client = create_app(settings).test_client()
    status, created = submit_archive(client, make_user(resources, "gc-lab"), gc_archive, challenge=PER_CASE,
                                     phase=TEST)
    assert status == 201, created
    drain_queue(settings)
    own = set(resources.store.list(f"submissions/{created['id']}/outputs/"))
    dropped = next(case for case in AGES if case != FAILING)
    cases_csv = folder / "data" / "test" / "cases.csv"
    cases_csv.write_text("".join(line + "\n" for line in cases_csv.read_text().splitlines()
                                 if not line.startswith(f"{dropped},")))
    with resources.session() as session:
        report = apply_challenge(session, resources.store, folder)
        assert any("still ranks on v1" in warning for warning in report.warnings), report.warnings
        phase = session.scalars(select(Phase).join(Challenge).where(Challenge.slug == PER_CASE)).one()
        from app.tasks.queues import make_reevaluation_enqueuer, reevaluation_gpu_lookup
        from app.usecases.reevaluation import start_reevaluation

        started = start_reevaluation(session, make_reevaluation_enqueuer(settings, reevaluation_gpu_lookup(resources)),
                                     phase, None, version=2, budget=1, selection="final")
        assert started.submissions == 1
        v2 = session.scalars(select(TestSet.id).where(TestSet.phase_id == phase.id, TestSet.version == 2)).one()
    drain_queue(settings)
    with resources.session() as session:
        row = session.scalars(select(ReevaluationRun)).one()
        assert row.state == ReevaluationRunState.DONE, row.message
        run = session.get(EvaluationRun, row.run_id)
        assert run is not None and run.test_set_id == v2
        assert (run.cases_valid, run.cases_invalid) == (len(AGES) - 2, 1)  # one case fewer; the failing one missing
    assert set(resources.store.list(f"submissions/{created['id']}/outputs/")) == own
    kept = resources.store.list(f"submissions/{created['id']}/test-sets/{v2}/outputs/")
    assert kept and not any(f"/{dropped}/" in key or f"/{FAILING}/" in key for key in kept)


def test_the_platform_s_faults_are_retried_then_fail_the_run_alone(resources: Resources, settings: Settings,  # type: ignore[no-untyped-def]
                                                                   picky_archive: Path, tmp_path: Path) -> None:
    """A version whose stored inputs are gone: each attempt is the platform's fault, retried within the fault budget,
    then the run fails as the platform's, and the submission is left as it was."""
    from app.tasks.queues import make_reevaluation_enqueuer, reevaluation_gpu_lookup
    from app.usecases.reevaluation import start_reevaluation

    apply_example(resources)
    client = create_app(settings).test_client()
    status, created = submit_archive(client, make_user(resources, "lab"), picky_archive, "picky")
    assert status == 201, created
    drain_queue(settings)
    with resources.session() as session:
        apply_challenge(session, resources.store, _changed_copy(tmp_path))
        phase = session.scalars(select(Phase)).one()
        v2 = session.scalars(select(TestSet).where(TestSet.version == 2)).one()
        case = v2.cases[0].case_key
        resources.store.delete_prefix(f"{v2.storage_prefix}/inputs/{case}/")  # storage lost a file of v2
        start_reevaluation(session, make_reevaluation_enqueuer(settings, reevaluation_gpu_lookup(resources)), phase,
                           None, version=2, budget=1, selection="final")
    drain_queue(settings)
    with resources.session() as session:
        row = session.scalars(select(ReevaluationRun)).one()
        assert row.state == ReevaluationRunState.FAILED
        assert row.infrastructure_faults == settings.max_infrastructure_faults == row.attempts
        assert row.message is not None and row.message.startswith("the platform failed"), row.message
        submission = session.get(Submission, created["id"])
        assert submission is not None and submission.state == SubmissionState.SUCCEEDED
        assert submission.infrastructure_faults == 0
