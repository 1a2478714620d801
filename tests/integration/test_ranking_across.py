"""A phase ranked across several metrics (ranking.metrics): the leaderboard's "#" from the scores under
aggregate-then-rank, from the worker's analysis under the other schemes (provisional until it covers the rows), on
the page, in the API and in the CLI's text. docs/statistics.md §3.6."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from app import create_app
from app.config import Settings
from app.queries.phases import get_phase
from app.resources import Resources
from tests.fixtures.scored import succeeded_run

API = "/api/v1/challenges/breast-cancer-wisconsin/phases/test/leaderboard"
PAGE = "/challenges/breast-cancer-wisconsin/test/leaderboard"


def _phase_ranked_across(resources: Resources, weights: tuple[float, float], scheme: str = "aggregate-then-rank",
                         combine: str = "mean") -> tuple[int, dict[str, dict[str, float]]]:
    """The example phase ranked across AUROC and the Brier score, with three hand-built entrants that the two metrics
    order in reverse: "sharp" separates the classes perfectly but is badly calibrated (0.55/0.45), "calibrated" is
    confident (0.9/0.1) but on the wrong side every 10th case, "middle" (0.7/0.3) every 20th. AUROC: sharp, middle,
    calibrated; Brier: calibrated, middle, sharp. Returns the phase id and each entrant's scores."""
    from app.models import CaseOutcome, Score
    from app.usecases.users import create_user
    from tests.integration.helpers import apply_example, hidden_labels

    apply_example(resources)
    labels = hidden_labels()
    scores: dict[str, dict[str, float]] = {}
    with resources.session() as session:
        phase = get_phase(session, "breast-cancer-wisconsin", "test")
        phase.metrics = [*phase.metrics, {"name": "brier_score", "prediction": "malignancy-likelihood",
                                          "target": "malignant"}]
        phase.ranking_metric, phase.ranking_order = "auroc", "descending"
        phase.ranking_across = {"metrics": [{"metric": "auroc", "order": "descending", "weight": weights[0]},
                                            {"metric": "brier_score", "order": "ascending", "weight": weights[1]}],
                                "combine": combine}
        phase.analysis = {"ranking_scheme": scheme, "replicates": 100}
        assert phase.current_test_set is not None
        cases = phase.current_test_set.cases
        for name, (confidence, wrong_every) in {"sharp": (0.55, 0), "calibrated": (0.9, 10),
                                                "middle": (0.7, 20)}.items():
            user, _ = create_user(session, name)
            _, run = succeeded_run(session, phase, user)
            truths, predictions = [], []
            for i, case in enumerate(cases):
                truth = float(labels[case.case_key])
                right = not (wrong_every and i % wrong_every == 0)
                p = confidence if (truth == 1) == right else 1 - confidence
                truths.append(truth)
                predictions.append(p)
                session.add(CaseOutcome(run_id=run.id, case_id=case.id, status="valid",
                                        prediction={"malignancy-likelihood": p},
                                        values={"brier_score": (p - truth) ** 2}))
            scores[name] = {"auroc": float(roc_auc_score(truths, predictions)),
                            "brier_score": float(np.mean((np.array(predictions) - np.array(truths)) ** 2))}
            for metric, value in scores[name].items():
                session.add(Score(run_id=run.id, metric=metric, value=value))
        return phase.id, scores


def _hash_column(client) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    body = client.get(PAGE).data.decode().split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>\s*<td>(.*?)</td><td>([^<]*)<", body, re.S)
    return [(who.strip(), re.sub(r"<[^>]+>", "", rank).split()[0]) for rank, who in rows]


@pytest.mark.parametrize(("weights", "expected"), [
    # AUROC ranks sharp 1, middle 2, calibrated 3; Brier the reverse. Weights 2:1 -> sharp (2+3)/3, middle 2,
    # calibrated (6+1)/3; 1:2 -> calibrated (3+2)/3, middle 2, sharp (1+6)/3; 1:1 -> all three 2, tied.
    ((2.0, 1.0), [("sharp", 1, 5 / 3), ("middle", 2, 2.0), ("calibrated", 3, 7 / 3)]),
    ((1.0, 2.0), [("calibrated", 1, 5 / 3), ("middle", 2, 2.0), ("sharp", 3, 7 / 3)]),
    ((1.0, 1.0), [("sharp", 1, 2.0), ("middle", 1, 2.0), ("calibrated", 1, 2.0)]),
])
def test_aggregate_then_rank_across_metrics_ranks_from_the_scores(resources: Resources, settings: Settings,
                                                                  weights: tuple[float, float], expected) -> None:  # type: ignore[no-untyped-def]
    from app.cli.leaderboard_text import format_leaderboard
    from app.pipeline.analysis import analyse_phase

    phase_id, scores = _phase_ranked_across(resources, weights)
    assert sorted(scores, key=lambda n: -scores[n]["auroc"]) == ["sharp", "middle", "calibrated"]
    assert sorted(scores, key=lambda n: scores[n]["brier_score"]) == ["calibrated", "middle", "sharp"]
    client = create_app(settings).test_client()
    board = client.get(API).get_json()
    assert [(r["participant"], r["rank"]) for r in board["rows"]] == [(who, rank) for who, rank, _ in expected]
    assert [r["rank_score"] for r in board["rows"]] == pytest.approx([score for _, _, score in expected])
    assert board["ranks_provisional"] is False  # exact without the analysis under aggregate-then-rank
    assert board["ranking_across"]["combine"] == "mean"
    assert _hash_column(client) == [(who, str(rank)) for who, rank, _ in expected]
    page = client.get(PAGE).data.decode()
    assert 'id="ranking-across"' in page and "Brier score" in page
    assert ("(weight 2)" in page) is (weights != (1.0, 1.0))
    text = format_leaderboard(board)
    assert "'#': the mean of each entry's ranks on auroc (descending" in text

    # The analysis ranks the same way, with the rank uncertainty of the combined ranks.
    analysis = analyse_phase(resources, phase_id)
    assert analysis is not None
    combined = analysis.document["combined_ranking"]
    assert [(e["entry"], e["rank"]) for e in combined["entries"]] == [(who, rank) for who, rank, _ in expected]
    assert analysis.document["ranking_across"]["metrics"][1]["metric"] == "brier_score"
    assert {e["entry"] for e in combined["uncertainty"]["entries"]} == set(scores)
    assert analysis.document["rankings"]["brier_score"]["higher_is_better"] is False
    assert analyse_phase(resources, phase_id) is None  # nothing changed


def test_other_schemes_rank_across_metrics_in_the_analysis(resources: Resources, settings: Settings) -> None:
    """Under significance the "#" waits for the analysis (provisional: the aggregates' combined ranks), then is
    the analysis's combined ranking; a changed weight makes it provisional again until analysed again."""
    from app.models import Phase
    from app.pipeline.analysis import analyse_phase

    phase_id, _ = _phase_ranked_across(resources, (2.0, 1.0), scheme="significance")
    client = create_app(settings).test_client()
    board = client.get(API).get_json()
    assert board["ranks_provisional"] is True
    assert 'id="ranks-provisional"' in client.get(PAGE).data.decode()

    analysis = analyse_phase(resources, phase_id)
    assert analysis is not None
    combined = analysis.document["combined_ranking"]
    assert combined["scheme"] == "significance" and combined["combine"] == "mean"
    for metric in ("auroc", "brier_score"):
        assert analysis.document["rankings"][metric]["scheme"] == "significance"
    expected = [(e["entry"], e["rank"]) for e in combined["entries"]]
    board = client.get(API).get_json()
    assert board["ranks_provisional"] is False
    assert [(r["participant"], r["rank"]) for r in board["rows"]] == expected
    assert [r["rank_score"] for r in board["rows"]] == pytest.approx([e["score"] for e in combined["entries"]])

    with resources.session() as session:
        phase = session.get(Phase, phase_id)
        assert phase is not None and phase.ranking_across is not None
        phase.ranking_across = {**phase.ranking_across, "combine": "median"}
    assert client.get(API).get_json()["ranks_provisional"] is True
    again = analyse_phase(resources, phase_id)
    assert again is not None and again.document["combined_ranking"]["combine"] == "median"
    assert client.get(API).get_json()["ranks_provisional"] is False
