"""Every metric plugin honours the contract in evaluation/base.py."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.base import Metric, MetricInput
from evaluation.metrics.classification import (
    AUROC,
    AveragePrecision,
    BalancedAccuracy,
    BrierScore,
    ExpectedCalibrationError,
    PositivePredictiveValue,
    Sensitivity,
    SensitivityAtSpecificity,
    Specificity,
)
from evaluation.metrics.detection import CaseAUROC, FROCSensitivity, LesionAveragePrecision, PicaiScore
from evaluation.metrics.regression import MeanAbsoluteError, RootMeanSquaredError
from evaluation.metrics.segmentation import Dice, HausdorffDistance95, IoU, NormalizedSurfaceDice
from evaluation.registry import metric_registry

# The entry points (name -> class) to declare in pyproject.toml under [project.entry-points."podium.metrics"].
PLUGINS: dict[str, type] = {
    "auroc": AUROC,
    "average_precision": AveragePrecision,
    "sensitivity": Sensitivity,
    "specificity": Specificity,
    "ppv": PositivePredictiveValue,
    "balanced_accuracy": BalancedAccuracy,
    "sensitivity_at_specificity": SensitivityAtSpecificity,
    "brier_score": BrierScore,
    "expected_calibration_error": ExpectedCalibrationError,
    "mae": MeanAbsoluteError,
    "rmse": RootMeanSquaredError,
    "dice": Dice,
    "iou": IoU,
    "hd95": HausdorffDistance95,
    "nsd": NormalizedSurfaceDice,
    "lesion_average_precision": LesionAveragePrecision,
    "case_auroc": CaseAUROC,
    "froc_sensitivity": FROCSensitivity,
    "picai_score": PicaiScore,
}


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_plugin_declares_the_contract(name: str) -> None:
    plugin_class = PLUGINS[name]
    assert plugin_class.name == name
    assert plugin_class.version == "1"
    assert isinstance(plugin_class.title, str) and plugin_class.title
    assert isinstance(plugin_class.higher_is_better, bool)
    assert plugin_class.input_kind in ("scalar", "image", "detection")
    assert isinstance(plugin_class(), Metric)


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_registered_entry_points_point_at_the_plugin(name: str) -> None:
    registry = metric_registry()
    if name not in registry:
        pytest.skip(f"{name} is not registered in pyproject.toml yet")
    assert registry[name] is PLUGINS[name]


@pytest.mark.parametrize("name", sorted(n for n, c in PLUGINS.items() if c.input_kind == "scalar"))
def test_scalar_plugins_give_an_interval_and_paired_replicates(name: str) -> None:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, 200).astype(float)
    scores = np.clip(targets * 0.3 + rng.random(200) * 0.7, 0, 1)
    data = MetricInput([str(i) for i in range(200)], scores, targets)
    plugin = PLUGINS[name]()
    result = plugin.compute(data)
    assert result.ci_low <= result.value <= result.ci_high
    indices = rng.integers(0, 200, (7, 200))
    replicates = plugin.resample(data, indices)
    assert replicates.shape == (7,)
    assert np.array_equal(plugin.resample(data, indices[2:3]), replicates[2:3])
