"""The missing-case policy of a phase: fail, worst or exclude."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from app.challenge_yaml import Interface
from app.pipeline.scoring import score_outputs
from runners.outputs import read_output_bytes

OUTPUT = Interface(slug="score", kind="json", relative_path="p.json", json_type="number", minimum=0, maximum=1)
TRUTH = Interface(slug="label", kind="json", relative_path="y.json", json_type="integer")
METRICS = [{"name": "auroc", "prediction": "score", "target": "label"}]


def _case_files(tmp_path: Path, outputs: dict[str, object], labels: dict[str, int]) -> tuple[dict, Path]:
    files = {}
    for case, value in outputs.items():
        path = tmp_path / "out" / case / "p.json"
        path.parent.mkdir(parents=True)
        path.write_text(value if isinstance(value, str) else json.dumps(value))
        files[f"{case}/p.json"] = path
    for case, label in labels.items():
        path = tmp_path / "truth" / case / "y.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(label))
    return files, tmp_path / "truth"


def _score(tmp_path: Path, policy: str):  # type: ignore[no-untyped-def]
    labels = {"c1": 1, "c2": 0, "c3": 1, "c4": 0, "c5": 1}
    outputs = {"c1": 0.9, "c2": 0.2, "c3": "NaN", "c4": 0.4}  # c3 invalid, c5 missing
    files, truth = _case_files(tmp_path, outputs, labels)
    result = score_outputs(case_keys=list(labels), outputs=[OUTPUT], ground_truth=[TRUTH], metrics=METRICS,
                           output_files=files, rejected_files={}, truth_dir=truth, read_output=read_output_bytes,
                           missing_cases=policy)
    return result, labels


def test_fail_publishes_no_score(tmp_path: Path) -> None:
    result, _ = _score(tmp_path, "fail")
    assert not result.ok and result.scores == {}
    assert "2 of 5 cases have no valid output" in result.failure_message()
    assert {c.case_key: c.status for c in result.cases}["c5"] == "missing"


def test_worst_gives_the_bound_farthest_from_the_reference(tmp_path: Path) -> None:
    result, labels = _score(tmp_path, "worst")
    assert result.ok
    assert {c.case_key: c.prediction["score"] for c in result.cases} == {"c1": 0.9, "c2": 0.2, "c3": 0, "c4": 0.4,
                                                                      "c5": 0}
    expected = roc_auc_score(list(labels.values()), [0.9, 0.2, 0, 0.4, 0])
    assert result.scores["auroc"].value == pytest.approx(expected)
    assert "given the worst value" in result.notes[0].full
    assert result.notes[0].safe == result.notes[0].full  # the platform's own words: the same for participants


def test_exclude_scores_the_valid_cases_and_counts_the_rest(tmp_path: Path) -> None:
    result, _ = _score(tmp_path, "exclude")
    assert result.ok
    assert result.scores["auroc"].value == pytest.approx(roc_auc_score([1, 0, 0], [0.9, 0.2, 0.4]))
    assert sum(c.status != "valid" for c in result.cases) == 2
    assert "excluded" in result.notes[0].full
    assert result.notes[0].safe == result.notes[0].full
    assert np.isfinite(result.scores["auroc"].value)


def test_a_phase_that_clusters_cases_gets_clustered_intervals(tmp_path: Path) -> None:
    """analysis.cluster_by reaches each score's CI: it equals the metric's own CI with the groups, and is wider
    than the case-by-case one when a patient's images agree (four near-identical images per patient)."""
    from evaluation.base import MetricInput
    from evaluation.registry import get_metric

    rng = np.random.default_rng(7)
    labels, outputs, metadata = {}, {}, {}
    for patient in range(30):
        label, score = int(patient % 2), float(np.clip(rng.normal(0.35 + 0.3 * (patient % 2), 0.2), 0, 1))
        for image in range(4):
            case = f"p{patient:02d}-{image}"
            labels[case], outputs[case], metadata[case] = label, score, {"patient_id": f"p{patient:02d}"}
    files, truth = _case_files(tmp_path, outputs, labels)

    def score(cluster_by: str | None):  # type: ignore[no-untyped-def]
        return score_outputs(case_keys=list(labels), outputs=[OUTPUT], ground_truth=[TRUTH], metrics=METRICS,
                             output_files=files, rejected_files={}, truth_dir=truth, read_output=read_output_bytes,
                             metadata=metadata, cluster_by=cluster_by).scores["auroc"]

    clustered, plain = score("patient_id"), score(None)
    expected = get_metric("auroc").compute(MetricInput(
        case_ids=list(labels), predictions=np.array(list(outputs.values())), targets=np.array(list(labels.values())),
        metadata={"patient_id": [m["patient_id"] for m in metadata.values()]},
        groups={case: m["patient_id"] for case, m in metadata.items()}))
    assert (clustered.ci_low, clustered.ci_high) == (expected.ci_low, expected.ci_high)
    assert clustered.value == plain.value
    assert clustered.ci_low is not None and clustered.ci_high is not None
    assert plain.ci_low is not None and plain.ci_high is not None
    assert clustered.ci_high - clustered.ci_low > 1.5 * (plain.ci_high - plain.ci_low)
