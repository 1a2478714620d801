"""A case-level metric recomputed from its recorded per-case values gives the metric's own value and CI."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.base import MetricInput, MetricInputError
from evaluation.metrics.classification import BrierScore
from evaluation.metrics.regression import RootMeanSquaredError
from evaluation.metrics.segmentation import Dice
from evaluation.ranking import rank_entries
from evaluation.recorded import recorded_case_means
from evaluation.registry import get_metric


def _masks(n: int, rng: np.random.Generator, tmp_path) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    import SimpleITK as sitk

    predictions, targets = [], []
    for i in range(n):
        truth = np.zeros((6, 8, 8), np.uint8)
        truth[1:5, 2:6, 2:6] = 1
        guess = truth.copy()
        guess[rng.integers(0, 6), rng.integers(0, 8), :] ^= 1  # a wrong row of voxels
        for values, kind, out in ((guess, "p", predictions), (truth, "t", targets)):
            path = tmp_path / f"{kind}{i}.mha"
            sitk.WriteImage(sitk.GetImageFromArray(values), str(path))
            out.append(str(path))
    return predictions, targets


def test_dice_from_its_recorded_values_is_dice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(4)
    predictions, targets = _masks(12, rng, tmp_path)
    ids = [f"c{i}" for i in range(12)]
    original = Dice().compute(MetricInput(ids, predictions, targets))
    assert original.per_case is not None
    twin = recorded_case_means(get_metric("dice"))
    assert twin is not None and twin.name == "dice" and twin.input_kind == "image" and twin.higher_is_better
    again = twin.compute(MetricInput(ids, np.asarray(original.per_case), np.zeros(12)))
    assert (again.value, again.ci_low, again.ci_high) == (original.value, original.ci_low, original.ci_high)


def test_a_transformed_mean_keeps_its_transform() -> None:
    """RMSE: the recorded per-case values are squared errors; the aggregate is the square root of their mean."""
    predictions, targets = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    data = MetricInput(["a", "b", "c"], predictions, targets)
    original = RootMeanSquaredError().compute(data)
    twin = recorded_case_means(RootMeanSquaredError())
    assert twin is not None and original.per_case is not None
    assert twin.compute(MetricInput(["a", "b", "c"], np.asarray(original.per_case), np.zeros(3))).value \
        == pytest.approx(original.value)


def test_set_level_metrics_and_unusable_values_are_refused() -> None:
    assert recorded_case_means(get_metric("auroc")) is None
    assert recorded_case_means(get_metric("lesion_average_precision")) is None
    twin = recorded_case_means(BrierScore())
    assert twin is not None
    with pytest.raises(MetricInputError, match="finite"):
        twin.compute(MetricInput(["a", "b"], np.array([0.1, np.nan]), np.zeros(2)))


def test_entries_rank_case_by_case_on_recorded_values() -> None:
    ids = [f"c{i}" for i in range(5)]
    twin = recorded_case_means(get_metric("hd95"))  # lower is better
    assert twin is not None
    inputs = {"near": MetricInput(ids, np.array([1.0, 2.0, 1.5, 1.0, 3.0]), np.zeros(5)),
              "far": MetricInput(ids, np.array([4.0, 5.0, 1.0, 6.0, 9.0]), np.zeros(5))}
    ranking = rank_entries(inputs, twin, "rank-then-aggregate", replicates=200, higher_is_better=False)
    assert [e.entry for e in sorted(ranking.entries, key=lambda e: e.rank)] == ["near", "far"]
