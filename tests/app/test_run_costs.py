"""Time and cost per case on the leaderboard (page, JSON, CLI) and the submission's run, from the operator's prices."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app import create_app
from app.api import schemas
from app.cli.leaderboard_text import format_leaderboard
from app.config import Settings, SettingsError
from app.models import Phase, Score, Submission, User
from app.queries.costs import Prices
from app.queries.leaderboard import build_leaderboard
from app.queries.submission_summary import submission_summary
from app.usecases.users import create_user
from tests.app.test_authorization_matrix import sign_in
from tests.app.usecases.test_final_selection import _phase
from tests.conftest import podium_environment
from tests.fixtures.scored import succeeded_run

PRICES = Prices(cpu_hour=0.05, gb_hour=0.01, currency="EUR")
# lab: 120 s of wall time, 90 CPU seconds, 2048 MiB at peak, 10 cases (8 valid, 2 invalid). By hand:
#   CPU:    90 s = 0.025 h x 0.05          = 0.00125
#   memory: 2 GiB x 120 s = 1/30 h x 0.01  = 0.000666...
#   run: 0.0019166...; per case: 0.00019166...; time per case 12 s.
LAB_COST_PER_CASE = (0.00125 + 2 * (120 / 3600) * 0.01) / 10


def _run(session: Session, phase: Phase, user: User, auroc: float, **figures: float | int | None) -> Submission:
    submission, run = succeeded_run(session, phase, user)
    for name, value in figures.items():
        setattr(run, name, value)
    session.add(Score(run_id=run.id, metric="auroc", subset="all", value=auroc))
    session.flush()
    return submission


@pytest.fixture
def contest(session: Session) -> tuple[Phase, dict[str, Submission], tuple[User, str]]:
    phase = _phase(session, split=False)
    lab, token = create_user(session, "lab")
    old, _ = create_user(session, "old-lab")
    submissions = {
        "lab": _run(session, phase, lab, 0.9, container_seconds=120.0, cpu_seconds=90.0, peak_memory_mb=2048.0,
                    cases_valid=8, cases_invalid=2),
        # A run recorded before CPU and memory were measured (migration 0018): time per case, no cost.
        "old-lab": _run(session, phase, old, 0.8, container_seconds=50.0, cases_valid=10),
    }
    session.commit()
    return phase, submissions, (lab, token)


def _rows(session: Session, phase: Phase, prices: Prices | None) -> dict[str, dict[str, object]]:
    board = build_leaderboard(session, phase, prices=prices).as_dict()
    return {str(row["participant"]): row for row in board["rows"]}


def test_cost_per_case_is_the_runs_cost_at_the_prices_divided_by_its_cases(session: Session, contest) -> None:  # type: ignore[no-untyped-def]
    phase, _, _ = contest
    rows = _rows(session, phase, PRICES)
    lab = rows["lab"]
    assert lab["cases_run"] == 10 and lab["seconds_per_case"] == pytest.approx(12.0)
    assert lab["cpu_seconds"] == 90.0 and lab["peak_memory_mb"] == 2048.0
    assert lab["cost_per_case"] == pytest.approx(LAB_COST_PER_CASE, rel=1e-12)
    assert lab["cost_per_case"] == pytest.approx(0.000191667, rel=1e-5)
    # Never a cost that leaves out a priced part: the old run has no CPU seconds.
    assert rows["old-lab"]["seconds_per_case"] == pytest.approx(5.0) and rows["old-lab"]["cost_per_case"] is None
    # Memory priced alone: the old run has no peak memory either; the lab's cost is the memory part only.
    memory_only = _rows(session, phase, Prices(gb_hour=0.01))
    assert memory_only["lab"]["cost_per_case"] == pytest.approx(2 * (120 / 3600) * 0.01 / 10)

    text = format_leaderboard(build_leaderboard(session, phase, prices=PRICES).as_dict())
    assert "cost/case EUR" in text and "0.000192" in text and "0.05 EUR per CPU-hour" in text
    assert "s/case" in text and " 12 " in text


def test_a_gpu_phase_pays_its_gpus_for_the_whole_wall_time(session: Session, contest) -> None:  # type: ignore[no-untyped-def]
    phase, _, _ = contest
    phase.gpus = 2
    session.flush()
    with_gpu = _rows(session, phase, Prices(cpu_hour=0.05, gb_hour=0.01, gpu_hour=1.5, currency="EUR"))
    # 2 GPUs x 120 s = 1/15 h x 1.5 = 0.1, on top of the CPU and memory parts; per case / 10.
    assert with_gpu["lab"]["cost_per_case"] == pytest.approx(LAB_COST_PER_CASE + 2 * (120 / 3600) * 1.5 / 10)
    # A GPU phase priced without a GPU price: the cost would leave its largest part out, so none is shown.
    assert _rows(session, phase, PRICES)["lab"]["cost_per_case"] is None


def test_no_prices_no_cost(session: Session, contest) -> None:  # type: ignore[no-untyped-def]
    phase, _, _ = contest
    for prices in (None, Prices(currency="EUR")):
        board = build_leaderboard(session, phase, prices=prices).as_dict()
        assert board["prices"] is None
        assert [row["cost_per_case"] for row in board["rows"]] == [None, None]
        assert [row["seconds_per_case"] for row in board["rows"]] == [pytest.approx(12.0), pytest.approx(5.0)]
        assert "cost/case" not in format_leaderboard(board)


def test_prices_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(podium_environment(tmp_path, PRICE_CPU_HOUR="0.05", PRICE_GB_HOUR="0.01",
                                                    PRICE_CURRENCY="EUR"))
    assert Prices.from_settings(settings) == PRICES
    unset = Prices.from_settings(Settings.from_env(podium_environment(tmp_path)))
    assert unset == Prices() and not unset.any_set
    for bad in ("cheap", "-1", "nan"):
        with pytest.raises(SettingsError, match="PODIUM_PRICE_GPU_HOUR"):
            Settings.from_env(podium_environment(tmp_path, PRICE_GPU_HOUR=bad))


def test_the_page_the_api_and_the_submission_show_time_and_cost(settings: Settings, session: Session,
                                                                 contest) -> None:  # type: ignore[no-untyped-def]
    phase, submissions, (lab, token) = contest
    priced = create_app(settings.with_overrides(price_cpu_hour=0.05, price_gb_hour=0.01,
                                                price_currency="EUR")).test_client()
    page = priced.get(f"/challenges/{phase.challenge.slug}/{phase.slug}/leaderboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Cost / case" in html and "0.000192 EUR" in html and "12 s" in html and "not measured" in html
    api = priced.get(f"/api/v1/challenges/{phase.challenge.slug}/phases/{phase.slug}/leaderboard").get_json()
    assert api["prices"] == {"cpu_hour": 0.05, "gb_hour": 0.01, "gpu_hour": None, "currency": "EUR"}
    assert api["rows"][0]["cost_per_case"] == pytest.approx(LAB_COST_PER_CASE)
    assert schemas.Leaderboard.model_validate(api).rows[0].cases_run == 10  # the answer is the documented one

    unpriced = create_app(settings).test_client()
    html = unpriced.get(f"/challenges/{phase.challenge.slug}/{phase.slug}/leaderboard").get_data(as_text=True)
    assert "Time / case" in html and "Cost / case" not in html
    api = unpriced.get(f"/api/v1/challenges/{phase.challenge.slug}/phases/{phase.slug}/leaderboard").get_json()
    assert api["prices"] is None and api["rows"][0]["cost_per_case"] is None

    run = submission_summary(session, submissions["lab"], lab)["run"]
    assert run["cpu_seconds"] == 90.0 and run["peak_memory_mb"] == 2048.0
    assert run["seconds_per_case"] == pytest.approx(12.0) and run["cpu_seconds_per_case"] == pytest.approx(9.0)
    assert schemas.Run.model_validate(run).peak_memory_mb == 2048.0
    sign_in(priced, token)
    html = priced.get(f"/submissions/{submissions['lab'].id}").get_data(as_text=True)
    assert "90.0 CPU seconds, peak memory 2048 MiB; per case (the run's figures divided by its 10 cases): 12 s, " \
        "9 CPU s." in html
