"""PI-CAI-style detection metrics against picai_eval on synthetic detection maps and labels."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from picai_eval import evaluate
from picai_eval.eval import evaluate_case

from evaluation.base import MetricInput, MetricInputError
from evaluation.bootstrap import bootstrap_indices
from evaluation.metrics.detection import (
    DEFAULT_FP_PER_CASE,
    CaseAUROC,
    FROCSensitivity,
    LesionAveragePrecision,
    PicaiScore,
    evaluate_detection_case,
)
from tests.evaluation.synthetic import detection_case

EXACT = 1e-12
# picai_eval keeps its FROC true-positive counts in float32, so its sensitivities are float32 numbers.
FLOAT32 = 1e-6


@pytest.fixture(autouse=True)
def _quiet_picai() -> None:
    warnings.filterwarnings("ignore", module="sklearn")


def synthetic_set(seed: int, n: int = 40) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    pairs = [detection_case(rng) for _ in range(n)]
    return [f"case{i:03d}" for i in range(n)], [p[0] for p in pairs], [p[1] for p in pairs]


def picai_froc(metrics, budgets=DEFAULT_FP_PER_CASE) -> float:
    return float(np.mean([metrics.lesion_TPR_at_FPR(f) for f in budgets]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plugins_equal_picai_eval(seed: int) -> None:
    ids, detections, labels = synthetic_set(seed)
    reference = evaluate(y_det=detections, y_true=labels, subject_list=ids, num_parallel_calls=1)
    data = MetricInput(ids, detections, labels)
    assert LesionAveragePrecision().compute(data).value == pytest.approx(reference.AP, abs=EXACT)
    assert CaseAUROC().compute(data).value == pytest.approx(reference.auroc, abs=EXACT)
    assert PicaiScore().compute(data).value == pytest.approx(reference.score, abs=EXACT)
    assert FROCSensitivity().compute(data).value == pytest.approx(picai_froc(reference), abs=FLOAT32)
    # The reference set must exercise the interesting paths: misses, false positives, ties.
    scores = np.array([s for _, s, _ in reference.lesion_results_flat])
    assert (scores == 0).any() and len(np.unique(scores)) < len(scores)


@pytest.mark.parametrize("seed", [3, 4])
def test_bootstrap_replicates_equal_picai_eval_on_the_same_cases(seed: int) -> None:
    ids, detections, labels = synthetic_set(seed, n=30)
    reference = evaluate(y_det=detections, y_true=labels, subject_list=ids, num_parallel_calls=1)
    data = MetricInput(ids, detections, labels)
    indices = bootstrap_indices(len(ids), 8, seed=seed)
    ap, auroc = LesionAveragePrecision().resample(data, indices), CaseAUROC().resample(data, indices)
    score = PicaiScore().resample(data, indices)
    for row, idx in enumerate(indices):
        subjects = [ids[i] for i in idx]
        assert ap[row] == pytest.approx(reference.calc_AP(subject_list=subjects), abs=EXACT)
        assert auroc[row] == pytest.approx(reference.calc_auroc(subject_list=subjects), abs=EXACT)
        assert score[row] == pytest.approx((ap[row] + auroc[row]) / 2, abs=EXACT)


def test_lesion_entries_equal_picai_evaluate_case() -> None:
    rng = np.random.default_rng(7)
    for _ in range(60):
        detection, label = detection_case(rng, p_lesion=0.9, p_hit=0.9)
        for min_overlap in (0.1, 0.3):
            y_list, case_score, *_ = evaluate_case(detection, label, min_overlap=min_overlap)
            ours = evaluate_detection_case(detection, label, min_overlap)
            assert sorted(zip(ours.is_lesion.tolist(), ours.score.tolist(), strict=True)) == sorted(
                (int(t), float(s)) for t, s, _ in y_list)
            assert ours.case_score == float(case_score)
            assert ours.has_lesion == bool(label.any())


def blob(shape: tuple[int, int, int], *box: slice) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[box] = True
    return mask


def test_matching_maximises_hits_then_overlap_not_likelihood() -> None:
    shape = (1, 40, 40)
    label = (blob(shape, slice(0, 1), slice(0, 10), slice(0, 10))
             | blob(shape, slice(0, 1), slice(20, 30), slice(0, 10))).astype(np.uint8)
    detection = np.zeros(shape, np.float32)
    # Candidate A covers lesion 1 well (IoU 0.5) and is weak; candidate B covers it less (IoU 0.2), but strongly.
    detection[blob(shape, slice(0, 1), slice(0, 10), slice(0, 5))] = 0.2  # IoU 0.5 with lesion 1
    detection[blob(shape, slice(0, 1), slice(6, 10), slice(6, 11))] = 0.9  # IoU 16/104 with lesion 1
    # Candidate C overlaps lesion 2 below min_overlap: a false positive.
    detection[blob(shape, slice(0, 1), slice(29, 35), slice(9, 15))] = 0.7
    case = evaluate_detection_case(detection, label, 0.1)
    # A is matched (more overlap), B is ignored (overlaps enough but lost), lesion 2 is missed, C is an FP.
    assert sorted(zip(case.is_lesion.tolist(), case.score.tolist(), strict=True)) == [
        (False, pytest.approx(0.7)), (True, 0.0), (True, pytest.approx(0.2))]
    assert case.case_score == pytest.approx(0.9)
    y_list, *_ = evaluate_case(detection, label)
    assert sorted((bool(t), s) for t, s, _ in y_list) == sorted(
        zip(case.is_lesion.tolist(), case.score.tolist(), strict=True))


def test_matching_prefers_more_hits_over_more_overlap() -> None:
    shape = (3, 12, 24)
    label = (blob(shape, slice(0, 3), slice(0, 10), slice(0, 10))
             | blob(shape, slice(0, 3), slice(0, 10), slice(12, 22))).astype(np.uint8)
    detection = np.zeros(shape, np.float32)
    detection[blob(shape, slice(0, 1), slice(0, 10), slice(0, 18))] = 0.8  # X: IoU 100/380 with 1, 60/420 with 2
    detection[blob(shape, slice(2, 3), slice(0, 5), slice(0, 10))] = 0.4  # Y: IoU 50/300 with lesion 1 only
    # Greedy by overlap would pair X with lesion 1 and miss lesion 2; the matching pairs X-2 and Y-1.
    case = evaluate_detection_case(detection, label, 0.1)
    assert sorted(zip(case.is_lesion.tolist(), case.score.tolist(), strict=True)) == [
        (True, pytest.approx(0.4)), (True, pytest.approx(0.8))]
    y_list, *_ = evaluate_case(detection, label, min_overlap=0.1)
    assert sorted((bool(t), s) for t, s, _ in y_list) == sorted(
        zip(case.is_lesion.tolist(), case.score.tolist(), strict=True))


def test_froc_counts_the_lowest_operating_point_unlike_picai_eval() -> None:
    """Documented disagreement: with every lesion found, picai_eval drops the lowest-likelihood operating point."""
    shape = (4, 8, 8)
    detections, labels = [], []
    for likelihood in (0.9, 0.5):
        label = np.zeros(shape, np.uint8)
        label[1:3, 2:5, 2:5] = 1
        detections.append(np.where(label > 0, np.float32(likelihood), np.float32(0)))
        labels.append(label)
    data = MetricInput(["a", "b"], detections, labels)
    assert FROCSensitivity().compute(data).value == 1.0
    reference = evaluate(y_det=detections, y_true=labels, num_parallel_calls=1)
    assert picai_froc(reference) == pytest.approx(0.5)  # picai_eval: FP = inf at the lowest threshold
    assert LesionAveragePrecision().compute(data).value == pytest.approx(reference.AP) == 1.0


def test_froc_budgets_option() -> None:
    ids, detections, labels = synthetic_set(5)
    reference = evaluate(y_det=detections, y_true=labels, subject_list=ids, num_parallel_calls=1)
    for budgets in ([0.1, 1.0], 0.5, [4]):
        data = MetricInput(ids, detections, labels, options={"fp_per_case": budgets})
        as_list = budgets if isinstance(budgets, list) else [budgets]
        assert FROCSensitivity().compute(data).value == pytest.approx(picai_froc(reference, as_list), abs=FLOAT32)


def test_min_overlap_option_matches_picai_eval() -> None:
    ids, detections, labels = synthetic_set(6)
    for min_overlap in (0.01, 0.3):
        reference = evaluate(y_det=detections, y_true=labels, subject_list=ids, num_parallel_calls=1,
                             min_overlap=min_overlap)
        data = MetricInput(ids, detections, labels, options={"min_overlap": min_overlap})
        assert LesionAveragePrecision().compute(data).value == pytest.approx(reference.AP, abs=EXACT)
        assert FROCSensitivity().compute(data).value == pytest.approx(picai_froc(reference), abs=FLOAT32)


def test_files_on_disk_equal_picai_eval_reading_the_same_files(tmp_path: Path) -> None:
    ids, detections, labels = synthetic_set(8, n=16)
    det_paths, label_paths = [], []
    for case, detection, label in zip(ids, detections, labels, strict=True):
        for array, name, paths in ((detection, f"{case}_detection_map.mha", det_paths),
                                   (label, f"{case}_label.nii.gz", label_paths)):
            image = sitk.GetImageFromArray(array)
            image.SetSpacing((0.5, 0.5, 3.0))
            sitk.WriteImage(image, str(tmp_path / name))
            paths.append(str(tmp_path / name))
    reference = evaluate(y_det=det_paths, y_true=label_paths, subject_list=ids, num_parallel_calls=1)
    data = MetricInput(ids, det_paths, label_paths)
    assert PicaiScore().compute(data).value == pytest.approx(reference.score, abs=EXACT)


def test_invalid_detection_maps_are_refused() -> None:
    label = np.zeros((3, 6, 6), np.uint8)
    label[1, 1:4, 1:4] = 1
    softmax = np.zeros(label.shape, np.float32)
    softmax[1, 1:4, 1:4] = [[0.2, 0.3, 0.4]] * 3
    with pytest.raises(MetricInputError, match="one constant likelihood"):
        evaluate_detection_case(softmax, label)
    with pytest.raises(MetricInputError, match=">= 0"):
        evaluate_detection_case(-softmax, label)
    with pytest.raises(MetricInputError, match="same voxel grid"):
        evaluate_detection_case(softmax[:, :5], label)
    with pytest.raises(MetricInputError, match="only the values 0 and 1"):
        evaluate_detection_case(softmax, label * 2)


def test_undefined_sets_are_refused_with_a_reason() -> None:
    benign = np.zeros((2, 4, 4), np.uint8)
    detection = np.zeros((2, 4, 4), np.float32)
    detection[0, 0, 0] = 0.5
    no_lesions = MetricInput(["a", "b"], [detection, detection], [benign, benign])
    with pytest.raises(MetricInputError, match="no lesion"):
        LesionAveragePrecision().compute(no_lesions)
    with pytest.raises(MetricInputError, match="case-level AUROC is undefined"):
        PicaiScore().compute(no_lesions)
    with pytest.raises(MetricInputError, match="'min_overlap' must be"):
        CaseAUROC().compute(MetricInput(["a"], [detection], [benign], options={"min_overlap": 2}))
    with pytest.raises(MetricInputError, match="'fp_per_case' must be"):
        FROCSensitivity().compute(MetricInput(["a"], [detection], [benign], options={"fp_per_case": []}))


def test_empty_cases_score_zero() -> None:
    empty = evaluate_detection_case(np.zeros((3, 3, 3), np.float32), np.zeros((3, 3, 3), np.uint8))
    assert (empty.is_lesion.size, empty.has_lesion, empty.case_score) == (0, False, 0.0)
    label = np.zeros((3, 3, 3), np.uint8)
    label[1, 1, 1] = 1
    missed = evaluate_detection_case(np.zeros((3, 3, 3), np.float32), label)
    assert (missed.is_lesion.tolist(), missed.score.tolist(), missed.case_score) == ([True], [0.0], 0.0)
