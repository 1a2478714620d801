"""Leaderboard statistics on the multi-site example: paired CIs, rank uncertainty, per-site results,
per-site operating points, readers and pictures, computed by the worker after scoring."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from app import create_app
from app.config import Settings
from app.queries.phases import get_phase
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from tests.conftest import MULTISITE_CHALLENGE
from tests.fixtures.example_sites import register_example_sites
from tests.fixtures.scored import succeeded_run
from tests.integration.helpers import drain_queue, make_user, stored_predictions, submit_archive

SLUG, PHASE = "breast-multisite", "test"


def _submit(client, resources: Resources, user: str, archive) -> int:  # type: ignore[no-untyped-def]
    status, body = submit_archive(client, make_user(resources, user), archive, challenge=SLUG, phase=PHASE)
    assert status == 201, body
    return body["id"]


def test_the_worker_publishes_statistics_with_the_leaderboard(resources: Resources, settings: Settings,
                                                              multisite_archives) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        register_example_sites(session)  # its phase at-sites is held at three sites
        apply_challenge(session, resources.store, MULTISITE_CHALLENGE)
    client = create_app(settings).test_client()
    strong = _submit(client, resources, "vendor-a", multisite_archives["logistic-regression"].archive)
    weak = _submit(client, resources, "vendor-b", multisite_archives["single-feature"].archive)
    drain_queue(settings)  # scores both, then analyses the phase

    from app.queries.analyses import latest_analysis

    with resources.session() as session:
        analysis = latest_analysis(session, get_phase(session, SLUG, PHASE))
        assert analysis is not None and sorted(analysis.submission_ids) == sorted([strong, weak])
        document, figures = analysis.document, analysis.figures

    ranking = document["rankings"]["auroc"]
    assert [e["entry"] for e in ranking["entries"]] == ["vendor-a", "vendor-b"]
    first = ranking["entries"][0]
    assert first["ci_low"] < first["value"] < first["ci_high"]
    uncertainty = {e["entry"]: e for e in ranking["uncertainty"]["entries"]}
    assert uncertainty["vendor-a"]["p_first"] > 0.95
    assert uncertainty["vendor-b"]["not_different_from_leader"] is False

    # Per site: the overall AUROC split by the site column, each checked against scikit-learn.
    import csv
    import json

    rows = list(csv.DictReader((MULTISITE_CHALLENGE / "data" / "test" / "cases.csv").open()))
    labels = {r["case_id"]: json.loads((MULTISITE_CHALLENGE / "data" / "test" / "ground_truth" / r["case_id"]
                                        / "malignant.json").read_text()) for r in rows}
    predictions = stored_predictions(resources, strong)
    by_site = {g["group"]: g for g in document["breakdowns"]["site"]["vendor-a"]}
    assert set(by_site) == {"site-a", "site-b", "site-c"}
    for site, group in by_site.items():
        cases = [r["case_id"] for r in rows if r["site"] == site]
        expected = roc_auc_score([labels[c] for c in cases], [predictions[c] for c in cases])
        assert group["value"] == pytest.approx(expected, abs=1e-12)
        assert group["n_cases"] == len(cases)

    points = document["operating_points"]["vendor-a"]
    assert {s["site"] for s in points["sites"]} == {"site-a", "site-b", "site-c"}
    for site in points["sites"]:
        recall = site["own"]["recall_rate"]["value"]
        assert recall <= 0.35 + 1e-12
        assert site["own"]["sensitivity"]["ci_low"] <= site["own"]["sensitivity"]["value"]

    readers = {c["reader"]: c for c in document["readers"]["vendor-a"]["comparisons"]}
    assert set(readers) == {"reader-1", "reader-2"}
    panel = document["readers"]["vendor-a"]["panel"]  # the panel's average reader
    assert panel["reader"] == "panel average"
    mean_sensitivity = np.mean([r["sensitivity"]["value"] for r in readers.values()])
    assert panel["sensitivity"]["value"] == pytest.approx(mean_sensitivity)
    assert panel["specificity_difference"]["ci_low"] <= panel["specificity_difference"]["value"]
    assert set(figures) >= {"roc.svg", "roc-site-a.svg", "forest-site.svg", "ranks.svg"}
    assert resources.store.get_bytes(figures["roc.svg"]).startswith(b"<?xml")
    assert np.isfinite(readers["reader-1"]["sensitivity"]["value"])

    page = client.get(f"/challenges/{SLUG}/{PHASE}/leaderboard").data.decode()
    assert "Median rank [95%]" in page and "Kendall" in page
    # The readers as marked baseline rows: AUROC of each reader's decisions, equal to scikit-learn's.
    assert 'id="reader-rows"' in page and "reader-1 <small" in page
    board = client.get(f"/api/v1/challenges/{SLUG}/phases/{PHASE}/leaderboard").get_json()
    assert [r["participant"] for r in board["rows"]] == ["vendor-a", "vendor-b"]  # readers are not ranked rows
    reader_calls: dict[str, dict[str, float]] = {}
    for row in csv.DictReader((MULTISITE_CHALLENGE / "data" / "readers.csv").open()):
        reader_calls.setdefault(row["reader"], {})[row["case_id"]] = float(row["score"])
    baselines = {b["name"]: b for b in board["baselines"]}
    assert set(baselines) == {"reader-1", "reader-2"} and all(b["kind"] == "reader" for b in baselines.values())
    for name, calls in reader_calls.items():
        cases = [r["case_id"] for r in rows]
        expected = roc_auc_score([labels[c] for c in cases], [1.0 if calls[c] >= 1 else 0.0 for c in cases])
        auroc = baselines[name]["scores"]["auroc"]
        assert auroc["value"] == pytest.approx(expected, abs=1e-12)
        assert auroc["ci_low"] <= auroc["value"] <= auroc["ci_high"]
    analysis_page = client.get(f"/challenges/{SLUG}/{PHASE}/analysis").data.decode()
    assert 'data-column="site"' in analysis_page and "reader-1" in analysis_page
    assert "one for all sites" in analysis_page
    svg = client.get(f"/challenges/{SLUG}/{PHASE}/figures/ranks.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    api = client.get(f"/api/v1/challenges/{SLUG}/phases/{PHASE}/analysis").get_json()
    assert api["rankings"]["auroc"]["entries"][0]["entry"] == "vendor-a"

    # Organisers download the per-case long table and a zip with the analysis and figures.
    import io
    import zipfile

    from app.usecases.users import create_user

    with resources.session() as session:
        _, admin = create_user(session, "organiser", is_admin=True)
    outsider = make_user(resources, "outsider")
    url = f"/api/v1/challenges/{SLUG}/phases/{PHASE}/cases.csv"
    assert client.get(url, headers={"Authorization": f"Bearer {outsider}"}).status_code == 403
    table = client.get(url, headers={"Authorization": f"Bearer {admin}"}).data.decode().splitlines()
    assert table[0] == "submission_id,participant,case_id,site,scanner,status,message,metric,value"
    assert len(table) == 1 + 2 * 342 * 2  # per case per submission: the output value and its Brier score
    export = client.get(f"/api/v1/challenges/{SLUG}/phases/{PHASE}/export.zip",
                        headers={"Authorization": f"Bearer {admin}"})
    names = zipfile.ZipFile(io.BytesIO(export.data)).namelist()
    assert {"cases.csv", "leaderboard.json", "analysis.json", "figures/roc.svg"} <= set(names)

    # Organisers upload readers' scores through the API; the next analysis compares against them.
    readers_url = f"/api/v1/challenges/{SLUG}/phases/{PHASE}/readers?positive_at=3"
    bad = client.put(readers_url, data="case_id,reader,score\nnot-a-case,r,1\n",
                     headers={"Authorization": f"Bearer {admin}"})
    assert bad.status_code == 400 and "unknown case_id 'not-a-case'" in bad.get_json()["error"]
    assert client.put(readers_url, data="x", headers={"Authorization": f"Bearer {outsider}"}).status_code == 403
    birads = "case_id,reader,score\n" + "".join(
        f"{r['case_id']},birads-reader,{5 if labels[r['case_id']] else 2}\n" for r in rows)
    ok = client.put(readers_url, data=birads, headers={"Authorization": f"Bearer {admin}"})
    assert ok.status_code == 200 and ok.get_json() == {"readers": 1, "positive_at": 3.0}
    drain_queue(settings)
    study = client.get(f"/api/v1/challenges/{SLUG}/phases/{PHASE}/analysis").get_json()["readers"]["vendor-a"]
    perfect = study["comparisons"][0]
    assert perfect["reader"] == "birads-reader" and perfect["sensitivity"]["value"] == 1.0


# --- the ranking metric is ranked in the phase's ranking.order, as on the leaderboard -------------------------------

def _phase_ranked_by_brier(resources: Resources, order: str, scheme: str) -> tuple[int, dict[str, float]]:
    """The example phase ranked by the Brier score (lower is better) in ``order``, with three entrants' scored runs
    (predictions of different accuracy, on every case) written as the worker writes them; returns the phase id and
    each entrant's Brier score."""
    from app.models import CaseOutcome, Score
    from app.usecases.users import create_user
    from tests.integration.helpers import apply_example, hidden_labels

    apply_example(resources)
    labels = hidden_labels()
    rng = np.random.default_rng(3)
    brier: dict[str, float] = {}
    with resources.session() as session:
        phase = get_phase(session, "breast-cancer-wisconsin", "test")
        phase.metrics = [*phase.metrics, {"name": "brier_score", "prediction": "malignancy-likelihood",
                                          "target": "malignant"}]
        phase.ranking_metric, phase.ranking_order = "brier_score", order
        phase.analysis = {"ranking_scheme": scheme, "replicates": 200}
        assert phase.current_test_set is not None
        cases = phase.current_test_set.cases
        for name, noise in (("precise", 0.05), ("middling", 0.3), ("poor", 0.6)):
            user, _ = create_user(session, name)
            submission, run = succeeded_run(session, phase, user)
            errors = []
            for case in cases:
                truth = labels[case.case_key]
                p = float(np.clip(truth + (1 - 2 * truth) * abs(rng.normal(scale=noise)), 0, 1))
                errors.append((p - truth) ** 2)
                session.add(CaseOutcome(run_id=run.id, case_id=case.id, status="valid",
                                        prediction={"malignancy-likelihood": p}, values={"brier_score": errors[-1]}))
            brier[name] = float(np.mean(errors))
            session.add(Score(run_id=run.id, metric="brier_score", value=brier[name]))
        phase_id = phase.id
    return phase_id, brier


@pytest.mark.parametrize("scheme", ["aggregate-then-rank", "rank-then-aggregate", "significance"])
@pytest.mark.parametrize("order", ["descending", "ascending"])
def test_the_analysis_ranks_in_the_leaderboards_order(resources: Resources, order: str, scheme: str) -> None:
    """ranking.order "descending" on a lower-is-better metric puts the largest Brier score first on the leaderboard;
    the analysis (ranks, median ranks, the leader) must say the same, whatever the scheme. rank-then-aggregate on a
    case-level metric (Brier) is analysed without error."""
    from app.pipeline.analysis import analyse_phase
    from app.queries.leaderboard import build_leaderboard

    phase_id, brier = _phase_ranked_by_brier(resources, order, scheme)
    expected = sorted(brier, key=brier.__getitem__, reverse=order == "descending")
    with resources.session() as session:
        from app.models import Phase

        board = [row.participant for row in build_leaderboard(session, session.get(Phase, phase_id)).rows]
    assert board == expected  # the leaderboard follows ranking.order ...

    analysis = analyse_phase(resources, phase_id)
    assert analysis is not None
    ranking = analysis.document["rankings"]["brier_score"]
    assert ranking["scheme"] == scheme and ranking["higher_is_better"] is (order == "descending")
    assert [e["entry"] for e in ranking["entries"]] == board  # ... and so does the analysis
    assert [e["rank"] for e in ranking["entries"]] == [1, 2, 3]
    uncertainty = {e["entry"]: e for e in ranking["uncertainty"]["entries"]}
    assert ranking["uncertainty"]["leader"] == board[0]
    assert [uncertainty[name]["median_rank"] for name in board] == [1, 2, 3]
    assert uncertainty[board[0]]["p_first"] > 0.9 and uncertainty[board[-1]]["not_different_from_leader"] is False
    assert [e["value"] for e in ranking["entries"]] == pytest.approx([brier[name] for name in board])
    # The other metrics keep their own direction: AUROC is ranked higher-is-better whatever ranking.order says.
    assert analysis.document["rankings"]["auroc"]["higher_is_better"] is True


def test_a_changed_ranking_order_is_analysed_again(resources: Resources) -> None:
    from app.models import Phase
    from app.pipeline.analysis import analyse_phase

    phase_id, brier = _phase_ranked_by_brier(resources, "ascending", "aggregate-then-rank")
    first = analyse_phase(resources, phase_id)
    assert first is not None and first.document["rankings"]["brier_score"]["entries"][0]["entry"] == "precise"
    assert analyse_phase(resources, phase_id) is None  # nothing changed
    with resources.session() as session:
        phase = session.get(Phase, phase_id)
        assert phase is not None
        phase.ranking_order = "descending"
    again = analyse_phase(resources, phase_id)
    assert again is not None and again.document["rankings"]["brier_score"]["entries"][0]["entry"] == "poor"
    assert max(brier, key=brier.__getitem__) == "poor"


# --- analysis.cluster_by: the clustered bootstrap, groups taken from Case.meta ---------------------------------------

def _with_patients(resources: Resources, phase_id: int, cluster_by: str | None) -> list[tuple[str, str]]:
    """Give the phase's cases a patient_id (three cases per patient; every seventh case empty) and set cluster_by;
    returns (case key, patient_id) in the test set's order."""
    from app.models import Phase

    with resources.session() as session:
        phase = session.get(Phase, phase_id)
        assert phase is not None and phase.current_test_set is not None
        patients = []
        for i, case in enumerate(phase.current_test_set.cases):
            patient = "" if i % 7 == 0 else f"patient-{i // 3}"
            case.meta = {**dict(case.meta), "patient_id": patient}
            patients.append((case.case_key, patient))
        phase.current_test_set.metadata_columns = ["patient_id"]
        phase.analysis = {**dict(phase.analysis or {}), "cluster_by": cluster_by} if cluster_by else \
            {k: v for k, v in dict(phase.analysis or {}).items() if k != "cluster_by"}
    return patients


def test_cluster_by_resamples_the_groups_of_the_metadata_column(resources: Resources) -> None:
    """The analysis's CIs are the library's clustered bootstrap with groups from Case.meta (an empty value: a group
    of its own), differ from the case bootstrap, and a changed cluster_by is analysed again."""
    from app.models import CaseOutcome, EvaluationRun, Phase, Submission, User
    from app.pipeline.analysis import analyse_phase
    from evaluation.base import MetricInput
    from evaluation.ranking import rank_entries
    from evaluation.registry import get_metric
    from tests.integration.helpers import hidden_labels

    phase_id, _ = _phase_ranked_by_brier(resources, "ascending", "aggregate-then-rank")
    patients = _with_patients(resources, phase_id, None)
    unclustered = analyse_phase(resources, phase_id)
    assert unclustered is not None
    _with_patients(resources, phase_id, "patient_id")
    clustered = analyse_phase(resources, phase_id)
    assert clustered is not None  # a new setting: analysed again
    assert clustered.document["settings"]["cluster_by"] == "patient_id"

    # The same statistics by the library, the groups written out here: case key -> patient, empty -> own group.
    labels = hidden_labels()
    keys = [key for key, _ in patients]
    groups = {key: (patient or None) for key, patient in patients}
    with resources.session() as session:
        phase = session.get(Phase, phase_id)
        assert phase is not None
        inputs = {}
        for run in session.query(EvaluationRun).join(Submission).where(Submission.phase_id == phase_id):
            user = session.get(User, run.submission.user_id)
            assert user is not None
            by_key = {o.case.case_key: o.prediction["malignancy-likelihood"]
                      for o in session.query(CaseOutcome).where(CaseOutcome.run_id == run.id)}
            inputs[user.username] = MetricInput(keys, np.array([by_key[k] for k in keys], dtype=float),
                                                np.array([float(labels[k]) for k in keys]))
    expected = rank_entries(inputs, get_metric("brier_score"), replicates=200, higher_is_better=False, groups=groups)
    got = {e["entry"]: e for e in clustered.document["rankings"]["brier_score"]["entries"]}
    before = {e["entry"]: e for e in unclustered.document["rankings"]["brier_score"]["entries"]}
    for entry in expected.entries:
        assert (got[entry.entry]["ci_low"], got[entry.entry]["ci_high"]) == pytest.approx((entry.ci_low, entry.ci_high))
        assert (got[entry.entry]["ci_low"], got[entry.entry]["ci_high"]) != (before[entry.entry]["ci_low"],
                                                                             before[entry.entry]["ci_high"])


# --- the leaderboard's "#" follows the phase's ranking scheme (issue 14) ---------------------------------------------

def _phase_where_schemes_disagree(resources: Resources, scheme: str, twins: bool = False) -> int:
    """The example phase ranked by the Brier score (ascending) under ``scheme``, with hand-built runs:
    "spiky" is the best on 4 cases in 5 (error 0.1) but wrong by 1 on every fifth case (mean Brier ~0.21), "steady"
    is off by 0.2 everywhere (0.04), "vague" by 0.3 (0.09). Aggregate-then-rank: steady, vague, spiky; rank-then-
    aggregate (mean per-case ranks ~1.4, 1.8, 2.8): spiky, steady, vague. ``twins`` adds "steady-twin", the same
    predictions as steady. Results published; returns the phase id."""
    from app.models import CaseOutcome, Score
    from app.usecases.users import create_user
    from tests.integration.helpers import apply_example, hidden_labels

    apply_example(resources)
    labels = hidden_labels()
    with resources.session() as session:
        phase = get_phase(session, "breast-cancer-wisconsin", "test")
        phase.metrics = [*phase.metrics, {"name": "brier_score", "prediction": "malignancy-likelihood",
                                          "target": "malignant"}]
        phase.ranking_metric, phase.ranking_order = "brier_score", "ascending"
        phase.analysis = {"ranking_scheme": scheme, "replicates": 100}
        phase.results_published = True
        assert phase.current_test_set is not None
        cases = phase.current_test_set.cases
        entrants = {"spiky": None, "steady": 0.2, "vague": 0.3, **({"steady-twin": 0.2} if twins else {})}
        for name, off in entrants.items():
            user, _ = create_user(session, name)
            submission, run = succeeded_run(session, phase, user)
            errors = []
            for i, case in enumerate(cases):
                truth = float(labels[case.case_key])
                miss = (1.0 if i % 5 == 0 else 0.1) if off is None else off
                p = abs(truth - miss)
                errors.append((p - truth) ** 2)
                session.add(CaseOutcome(run_id=run.id, case_id=case.id, status="valid",
                                        prediction={"malignancy-likelihood": p}, values={"brier_score": errors[-1]}))
            session.add(Score(run_id=run.id, metric="brier_score", value=float(np.mean(errors))))
        return phase.id


def _hash_column(client) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(participant, "#" cell) of each leaderboard row on the page, in order."""
    import re

    page = client.get("/challenges/breast-cancer-wisconsin/test/leaderboard").data.decode()
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>\s*<td>(.*?)</td><td>([^<]*)<", body, re.S)
    return [(who.strip(), re.sub(r"<[^>]+>", "", rank).split()[0]) for rank, who in rows]


def test_the_hash_column_follows_rank_then_aggregate(resources: Resources, settings: Settings) -> None:
    """Before the analysis: the Brier score's order, marked provisional. After: the rank-then-aggregate ranking,
    which disagrees with the aggregate's, on the page, in the API and in the CLI's text."""
    from app.cli.leaderboard_text import format_leaderboard
    from app.pipeline.analysis import analyse_phase

    phase_id = _phase_where_schemes_disagree(resources, "rank-then-aggregate")
    client = create_app(settings).test_client()
    api_url = "/api/v1/challenges/breast-cancer-wisconsin/phases/test/leaderboard"
    board = client.get(api_url).get_json()
    assert [(r["participant"], r["rank"]) for r in board["rows"]] == [("steady", 1), ("vague", 2), ("spiky", 3)]
    assert board["ranks_provisional"] is True and board["ranking_scheme"] == "rank-then-aggregate"
    page = client.get("/challenges/breast-cancer-wisconsin/test/leaderboard").data.decode()
    assert 'id="ranks-provisional"' in page
    assert "ranks are provisional" in format_leaderboard(board)

    analysis = analyse_phase(resources, phase_id)
    assert analysis is not None
    entries = analysis.document["rankings"]["brier_score"]["entries"]
    assert [(e["entry"], e["rank"]) for e in entries] == [("spiky", 1), ("steady", 2), ("vague", 3)]
    board = client.get(api_url).get_json()
    assert [(r["participant"], r["rank"]) for r in board["rows"]] == [("spiky", 1), ("steady", 2), ("vague", 3)]
    assert board["ranks_provisional"] is False
    assert _hash_column(client) == [("spiky", "1"), ("steady", "2"), ("vague", "3")]
    page = client.get("/challenges/breast-cancer-wisconsin/test/leaderboard").data.decode()
    assert 'id="ranks-provisional"' not in page and "(rank-then-aggregate ranking)" in page
    text = format_leaderboard(board, analysis.document).splitlines()
    assert [line.split()[0] for line in text[3:6]] == ["1", "2", "3"] and "spiky" in text[3]
    # Sorted by another column, "#" is that column's order (the scheme ranks the ranking metric only).
    sorted_by_auroc = client.get(api_url + "?sort=auroc").get_json()
    assert sorted_by_auroc["ranks_provisional"] is False


def test_a_submission_the_analysis_has_not_seen_makes_ranks_provisional(resources: Resources,
                                                                       settings: Settings) -> None:
    from app.models import Submission
    from app.pipeline.analysis import analyse_phase

    phase_id = _phase_where_schemes_disagree(resources, "rank-then-aggregate")
    assert analyse_phase(resources, phase_id) is not None
    client = create_app(settings).test_client()
    api_url = "/api/v1/challenges/breast-cancer-wisconsin/phases/test/leaderboard"
    assert client.get(api_url).get_json()["rows"][0]["participant"] == "spiky"
    with resources.session() as session:  # a row leaves the board: the stored analysis no longer covers it
        hidden = session.query(Submission).filter(Submission.phase_id == phase_id).order_by(Submission.id).first()
        assert hidden is not None
        from app.models._types import utcnow

        hidden.hidden_at = utcnow()
    board = client.get(api_url).get_json()
    assert board["ranks_provisional"] is True
    assert [r["participant"] for r in board["rows"]] == ["steady", "vague"]


def test_significance_ties_share_the_hash_rank(resources: Resources, settings: Settings) -> None:
    """Under the significance scheme, "#" is the number-of-wins rank of the analysis: two entrants with identical
    predictions beat the same entrants, so they share a rank, and the next rank is skipped."""
    from app.pipeline.analysis import analyse_phase

    phase_id = _phase_where_schemes_disagree(resources, "significance", twins=True)
    analysis = analyse_phase(resources, phase_id)
    assert analysis is not None
    expected = [(e["entry"], e["rank"]) for e in analysis.document["rankings"]["brier_score"]["entries"]]
    ranks = dict(expected)
    assert ranks["steady"] == ranks["steady-twin"]
    client = create_app(settings).test_client()
    board = client.get("/api/v1/challenges/breast-cancer-wisconsin/phases/test/leaderboard").get_json()
    assert [(r["participant"], r["rank"]) for r in board["rows"]] == expected
    assert board["ranks_provisional"] is False
    assert _hash_column(client) == [(who, str(rank)) for who, rank in expected]


# --- breakdowns of every metric by every breakdown_by column (issue 14) ----------------------------------------------

def _with_sites(resources: Resources, phase_id: int) -> dict[str, str]:
    """Give the phase's cases a site (site-a/b/c in turn), break down by it; returns case key -> site."""
    from app.models import Phase

    with resources.session() as session:
        phase = session.get(Phase, phase_id)
        assert phase is not None and phase.current_test_set is not None
        sites = {}
        for i, case in enumerate(phase.current_test_set.cases):
            sites[case.case_key] = f"site-{'abc'[i % 3]}"
            case.meta = {**dict(case.meta), "site": sites[case.case_key]}
        phase.current_test_set.metadata_columns = ["site"]
        phase.analysis = {**dict(phase.analysis or {}), "breakdown_by": ["site"]}
    return sites


def test_every_metric_is_broken_down_by_every_column(resources: Resources, settings: Settings) -> None:
    """Two metrics (AUROC, the Brier score) by site: each group's value is the metric computed directly on that
    group's cases (scikit-learn, numpy), with its CI; the API's JSON and the analysis page show both."""
    from app.models import CaseOutcome, EvaluationRun, Phase, Submission, User
    from app.pipeline.analysis import analyse_phase
    from tests.integration.helpers import hidden_labels

    phase_id, _ = _phase_ranked_by_brier(resources, "ascending", "aggregate-then-rank")
    sites = _with_sites(resources, phase_id)
    with resources.session() as session:
        phase = session.get(Phase, phase_id)
        assert phase is not None
        phase.metrics = [m for m in phase.metrics if m["name"] in ("auroc", "brier_score")]
        predictions: dict[str, dict[str, float]] = {}
        for run in session.query(EvaluationRun).join(Submission).where(Submission.phase_id == phase_id):
            user = session.get(User, run.submission.user_id)
            assert user is not None
            predictions[user.username] = {o.case.case_key: o.prediction["malignancy-likelihood"]
                                          for o in session.query(CaseOutcome).where(CaseOutcome.run_id == run.id)}
    analysis = analyse_phase(resources, phase_id)
    assert analysis is not None
    labels = hidden_labels()
    by_metric = analysis.document["metric_breakdowns"]
    assert set(by_metric) == {"auroc", "brier_score"}
    direct = {"auroc": lambda y, p: roc_auc_score(y, p), "brier_score": lambda y, p: float(np.mean((p - y) ** 2))}
    for metric, compute in direct.items():
        per_entry = by_metric[metric]["site"]
        assert set(per_entry) == {"precise", "middling", "poor"}
        for entry, groups in per_entry.items():
            assert [g["group"] for g in groups] == ["site-a", "site-b", "site-c"]
            for g in groups:
                keys = [k for k, site in sites.items() if site == g["group"]]
                y = np.array([float(labels[k]) for k in keys])
                p = np.array([predictions[entry][k] for k in keys])
                assert g["n_cases"] == len(keys) and g["defined"] is True
                assert g["value"] == pytest.approx(compute(y, p), abs=1e-12)
                assert g["ci_low"] <= g["value"] <= g["ci_high"]
                assert g["ci_low"] < g["ci_high"] or (metric == "auroc" and g["value"] == 1.0)  # a perfect AUROC
    assert analysis.document["breakdowns"] == by_metric["brier_score"]  # the ranking metric's, as before

    client = create_app(settings).test_client()
    api = client.get("/api/v1/challenges/breast-cancer-wisconsin/phases/test/analysis").get_json()
    assert api["metric_breakdowns"]["auroc"]["site"]["poor"] == by_metric["auroc"]["site"]["poor"]
    page = client.get("/challenges/breast-cancer-wisconsin/test/analysis").data.decode()
    for metric in ("auroc", "brier_score"):
        assert f'id="breakdown-{metric}"' in page and f'href="#breakdown-{metric}"' in page
        assert f'data-column="site" data-metric="{metric}"' in page
    auroc_section = page.split('id="breakdown-auroc"')[1].split("</section>")[0]
    assert all(f"{g['value']:.3f}" in auroc_section for g in by_metric["auroc"]["site"]["poor"])


def test_an_analysis_stored_before_every_metric_was_broken_down_still_reads(resources: Resources,
                                                                           settings: Settings) -> None:
    """A stored document without metric_breakdowns validates, shows its ranking metric's breakdown on the page, and
    the next analysis computes every metric's."""
    from app.cli.leaderboard_text import format_leaderboard
    from app.models import PhaseAnalysis
    from app.pipeline.analysis import analyse_phase
    from app.queries.analysis_document import AnalysisDocument

    phase_id, _ = _phase_ranked_by_brier(resources, "ascending", "aggregate-then-rank")
    _with_sites(resources, phase_id)
    analysis = analyse_phase(resources, phase_id)
    assert analysis is not None
    old = {k: v for k, v in analysis.document.items() if k != "metric_breakdowns"}
    with resources.session() as session:
        stored = session.get(PhaseAnalysis, analysis.id)
        assert stored is not None
        stored.document = old
    document = AnalysisDocument.model_validate(old)
    assert document.metric_breakdowns == {}
    assert document.breakdowns_by_metric("brier_score") == {"brier_score": old["breakdowns"]}
    client = create_app(settings).test_client()
    page = client.get("/challenges/breast-cancer-wisconsin/test/analysis").data.decode()
    assert 'data-column="site" data-metric="brier_score"' in page and 'id="breakdown-auroc"' not in page
    board = client.get("/api/v1/challenges/breast-cancer-wisconsin/phases/test/leaderboard").get_json()
    assert "brier_score by site:" in format_leaderboard(board, old)
    again = analyse_phase(resources, phase_id)  # the old document is analysed again, every metric broken down
    assert again is not None and {"auroc", "brier_score"} <= set(again.document["metric_breakdowns"])
    assert "auroc by site:" in format_leaderboard(board, again.document)
