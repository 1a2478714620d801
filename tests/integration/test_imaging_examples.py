"""The two imaging examples end to end through containers: challenges/spleen-ct-segmentation (batch mode, a mask
per case, Dice/HD95/NSD) and challenges/prostate-mri-detection (per-case mode with grand-challenge.org's layout, a
detection map and a likelihood per case, scored the PI-CAI way). Each: applied, its good and weak baselines
uploaded through the API, run and scored by the worker; the good one must lead and the figures must be plausible
(and the Dice the leaderboard shows must be the Dice of the stored masks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from flask.testing import FlaskClient

from app import create_app
from app.config import Settings
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from evaluation.metrics.segmentation import dice
from tests.conftest import PROSTATE_CHALLENGE, SPLEEN_CHALLENGE
from tests.integration.helpers import drain_queue, get_submission, make_user, prepared_challenge, submit_archive

PHASE = "test"


def _apply(resources: Resources, folder: Path) -> None:
    with resources.session() as session:
        apply_challenge(session, resources.store, prepared_challenge(folder))


def _submit_both(client: FlaskClient, resources: Resources, slug: str, good: Path, weak: Path
                 ) -> dict[str, tuple[str, int]]:
    """The good baseline as radboud-ai-lab, the weak one as acme-vendor: participant -> (token, submission id)."""
    submitted = {}
    for user, archive in (("radboud-ai-lab", good), ("acme-vendor", weak)):
        token = make_user(resources, user)
        status, body = submit_archive(client, token, archive, user, challenge=slug, phase=PHASE)
        assert status == 201, body
        submitted[user] = (token, body["id"])
    return submitted


def _finished(client: FlaskClient, submitted: dict[str, tuple[str, int]], cases: int) -> None:
    for user, (token, submission_id) in submitted.items():
        result = get_submission(client, token, submission_id)
        assert result["state"] == "succeeded", (user, result)
        assert result["run"]["cases_valid"] == cases, (user, result["run"])


def _board(client: FlaskClient, slug: str) -> dict[str, dict[str, Any]]:
    board = client.get(f"/api/v1/challenges/{slug}/phases/{PHASE}/leaderboard").get_json()
    assert [row["participant"] for row in board["rows"]] == ["radboud-ai-lab", "acme-vendor"], board
    return {row["participant"]: row for row in board["rows"]}


def _value(row: dict[str, Any], metric: str) -> float:
    return float(row["scores"][metric]["value"])


def test_the_segmentation_example_ranks_its_good_baseline_first(resources: Resources, settings: Settings,
                                                                spleen_archives) -> None:  # type: ignore[no-untyped-def]
    slug = "spleen-ct-segmentation"
    _apply(resources, SPLEEN_CHALLENGE)
    client = create_app(settings).test_client()
    submitted = _submit_both(client, resources, slug, spleen_archives["window-and-largest-component"].archive,
                             spleen_archives["fixed-threshold"].archive)
    drain_queue(settings)
    _finished(client, submitted, cases=32)

    rows = _board(client, slug)
    good, weak = rows["radboud-ai-lab"], rows["acme-vendor"]
    assert _value(good, "dice") > 0.8 > 0.6 > _value(weak, "dice")
    assert _value(good, "nsd") > 0.9 > _value(weak, "nsd")
    assert _value(good, "hd95") < 5.0 < _value(weak, "hd95")  # mm
    assert good["seconds_per_case"] is not None and 0 < good["seconds_per_case"] < 10

    # The Dice shown is the mean Dice of the masks the container wrote, against the hidden reference.
    submission_id = submitted["radboud-ai-lab"][1]
    truth = prepared_challenge(SPLEEN_CHALLENGE) / "data" / "test" / "ground_truth"
    values = []
    for key in resources.store.list(f"submissions/{submission_id}/outputs/"):
        case = key.split("/")[3]
        mask = _read_image(resources.store.get_bytes(key))
        values.append(dice(mask, sitk.GetArrayFromImage(sitk.ReadImage(str(truth / case / "images" / "spleen"
                                                                           / f"{case}.mha")))))
    assert len(values) == 32
    assert _value(good, "dice") == pytest.approx(float(np.mean(values)), abs=1e-9)

    # The analysis ranks case by case on the recorded per-case Dice, NSD and HD95 (evaluation/recorded.py) and
    # breaks each down by site with CIs: the image metrics get the statistics the scalar ones get.
    board = client.get(f"/api/v1/challenges/{slug}/phases/{PHASE}/leaderboard").get_json()
    assert board["ranking_scheme"] == "rank-then-aggregate" and not board["ranks_provisional"]
    assert [row["participant"] for row in board["rows"]] == ["radboud-ai-lab", "acme-vendor"]
    analysis = client.get(f"/api/v1/challenges/{slug}/phases/{PHASE}/analysis").get_json()
    assert set(analysis["rankings"]) >= {"dice", "nsd", "hd95"} and analysis["combined_ranking"]
    by_site = {g["group"]: g for g in analysis["metric_breakdowns"]["dice"]["site"]["radboud-ai-lab"]}
    assert len(by_site) == 2 and all(g["ci_low"] <= g["value"] <= g["ci_high"] for g in by_site.values())
    assert {site: g["n_cases"] for site, g in by_site.items()} == {"site-a": 18, "site-b": 14}
    # A site's Dice is the mean of its cases' Dice: weighted by cases, the two make the overall mean.
    weighted = sum(g["n_cases"] * g["value"] for g in by_site.values()) / 32
    assert weighted == pytest.approx(_value(good, "dice"), abs=1e-9)


def test_the_detection_example_runs_grand_challenge_containers_per_case(resources: Resources, settings: Settings,
                                                                       prostate_archives) -> None:  # type: ignore[no-untyped-def]
    slug = "prostate-mri-detection"
    _apply(resources, PROSTATE_CHALLENGE)
    client = create_app(settings).test_client()
    submitted = _submit_both(client, resources, slug, prostate_archives["lesion-candidates"].archive,
                             prostate_archives["psa-density"].archive)
    drain_queue(settings)  # 36 container runs per submission, two at a time; then the analysis
    _finished(client, submitted, cases=36)

    rows = _board(client, slug)
    good, weak = rows["radboud-ai-lab"], rows["acme-vendor"]
    assert _value(good, "picai_score") > 0.7 > 0.5 > _value(weak, "picai_score")
    assert _value(good, "lesion_average_precision") > 0.5 > 0.1 > _value(weak, "lesion_average_precision")
    assert _value(good, "case_auroc") > _value(weak, "case_auroc") > 0.5
    assert _value(good, "froc_sensitivity") > _value(weak, "froc_sensitivity")
    # Both baselines report the detection map's largest likelihood as the case's: the same AUROC twice.
    assert _value(good, "auroc") == pytest.approx(_value(good, "case_auroc"), abs=1e-9)
    assert good["seconds_per_case_median"] is not None
    assert 0 < good["seconds_per_case_median"] <= good["seconds_per_case_p95"] < 30

    analysis = client.get(f"/api/v1/challenges/{slug}/phases/{PHASE}/analysis").get_json()
    by_site = analysis["metric_breakdowns"]["auroc"]["site"]
    for entry in by_site.values():
        assert {group["group"] for group in entry} == {"site-a", "site-b"}
        assert sum(group["n_cases"] for group in entry) == 36
    # The set-level detection metrics are computed again from the stored detection maps: the ranking metric has its
    # rank uncertainty, and every detection metric its per-site values, as the scalar ones do.
    ranking = analysis["rankings"]["picai_score"]
    assert {e["entry"]: e["rank"] for e in ranking["entries"]} == {"radboud-ai-lab": 1, "acme-vendor": 2}
    assert {e["entry"] for e in ranking["uncertainty"]["entries"]} == {"radboud-ai-lab", "acme-vendor"}
    score = {e["entry"]: e["score"] for e in ranking["entries"]}
    assert score["radboud-ai-lab"] == pytest.approx(_value(good, "picai_score"), abs=1e-9)
    for metric in ("picai_score", "lesion_average_precision", "case_auroc", "froc_sensitivity"):
        assert {g["group"] for g in analysis["metric_breakdowns"][metric]["site"]["radboud-ai-lab"]} \
            == {"site-a", "site-b"}, metric
    page = client.get(f"/challenges/{slug}/{PHASE}/leaderboard").get_data(as_text=True)
    assert "Statistics are being computed" not in page and "Rank uncertainty from" in page


def _read_image(data: bytes) -> np.ndarray:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".mha") as handle:
        handle.write(data)
        handle.flush()
        return sitk.GetArrayFromImage(sitk.ReadImage(handle.name))
