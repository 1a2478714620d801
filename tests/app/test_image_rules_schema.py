"""challenge.yaml: the `image:` rules of an image output are refused with a reason where they make no sense, and
survive the round trip through the database's mapping (app/queries/challenge_spec.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.challenge_yaml import Interface, PhaseSpec
from app.queries.challenge_spec import interface_spec


def _phase(**changes: Any) -> dict[str, Any]:
    phase: dict[str, Any] = {
        "slug": "test", "title": "Test", "test_set": "test-set",
        "inputs": [{"slug": "prostate-t2", "kind": "image", "relative_path": "images/prostate-t2"},
                   {"slug": "age", "kind": "json", "relative_path": "age.json", "json_type": "number"}],
        "outputs": [{"slug": "prostate-segmentation", "kind": "image", "relative_path": "images/prostate-segmentation",
                     "image": {"same_grid_as": "prostate-t2", "pixel_type": ["uint8", "int16"], "values": [0, 1],
                               "dimensions": 3}}],
        "ground_truth": [{"slug": "prostate-mask", "kind": "image", "relative_path": "images/prostate-mask"}],
        "metrics": [{"name": "dice", "prediction": "prostate-segmentation", "target": "prostate-mask"}],
        "ranking": {"metric": "dice"},
    }
    phase.update(changes)
    return phase


def test_a_phase_with_image_rules_validates_and_round_trips() -> None:
    spec = PhaseSpec.model_validate(_phase())
    rules = spec.outputs[0].image
    assert rules is not None and rules.same_grid_as == "prostate-t2" and rules.pixel_type == ["uint8", "int16"]
    stored = spec.outputs[0].model_dump(mode="json")  # as apply_challenge stores it
    written = interface_spec(stored)
    assert written["image"] == {"same_grid_as": "prostate-t2", "pixel_type": ["uint8", "int16"],
                                "values": [0.0, 1.0], "dimensions": 3}
    assert Interface.model_validate(written) == spec.outputs[0]
    assert "image" not in interface_spec(spec.inputs[0].model_dump(mode="json"))  # no rules: nothing written


def test_a_single_pixel_type_and_a_range_are_accepted() -> None:
    output = Interface.model_validate({"slug": "heat-map", "kind": "image", "relative_path": "images/heat-map",
                                       "image": {"pixel_type": "float32", "range": [0, 1]}})
    assert output.image is not None and output.image.pixel_type == ["float32"] and output.image.range == (0.0, 1.0)


@pytest.mark.parametrize(("interface", "reason"), [
    ({"slug": "score", "kind": "json", "relative_path": "score.json", "image": {"dimensions": 3}},
     "image rules apply only to kind 'image'"),
    ({"slug": "mask", "kind": "image", "relative_path": "mask", "image": {"values": [0, 1], "range": [0, 1]}},
     "either values"),
    ({"slug": "mask", "kind": "image", "relative_path": "mask", "image": {"pixel_type": ["uint9", "int16"]}},
     "unknown pixel type(s) 'uint9'"),
    ({"slug": "mask", "kind": "image", "relative_path": "mask", "image": {"range": [1, 0]}},
     "lo must not be above hi"),
    ({"slug": "mask", "kind": "image", "relative_path": "mask", "image": {"dimensions": 7}}, "dimensions"),
    ({"slug": "mask", "kind": "image", "relative_path": "mask", "image": {"colour": "red"}}, "colour"),
])
def test_bad_rules_are_refused_with_the_reason(interface: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        Interface.model_validate(interface)
    assert reason in str(excinfo.value)


@pytest.mark.parametrize(("grid", "reason"), [
    ("age", "image.same_grid_as 'age' names no image input of the phase (image inputs: prostate-t2)"),
    ("prostate-mask", "names no image input"),
    ("nothing", "names no image input"),
])
def test_same_grid_as_must_name_an_image_input(grid: str, reason: str) -> None:
    phase = _phase()
    phase["outputs"][0]["image"]["same_grid_as"] = grid
    with pytest.raises(ValidationError) as excinfo:
        PhaseSpec.model_validate(phase)
    assert reason in str(excinfo.value)


def test_rules_on_inputs_or_ground_truth_are_refused() -> None:
    phase = _phase()
    phase["ground_truth"][0]["image"] = {"values": [0, 1]}
    with pytest.raises(ValidationError) as excinfo:
        PhaseSpec.model_validate(phase)
    assert "declare them on outputs only" in str(excinfo.value)
