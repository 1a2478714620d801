"""Whether a JSON value fits its declared interface: checked when a test set is read and when outputs are scored."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from app.challenge_yaml import Interface


@dataclass(frozen=True)
class ValueProblem:
    """Why a value does not fit its interface, in two wordings.

    text: may quote the value (for organisers, and for participants of phases that show full logs);
    safe: names only the interface's own type and bounds, never anything of the value, so that a value
    written by a participant's container (which may encode the hidden inputs) never reaches them through it.
    """

    text: str
    safe: str


def check_json_value(value: Any, interface: Interface) -> str | None:
    """Why a JSON value does not fit its interface (quoting the value), or None when it fits."""
    problem = json_value_problem(value, interface)
    return problem.text if problem else None


def json_value_problem(value: Any, interface: Interface) -> ValueProblem | None:
    """Why a JSON value does not fit its interface, in both wordings, or None when it fits."""
    expected = interface.json_type
    if expected in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return ValueProblem(f"expected a {expected}, got {type(value).__name__} {_short(value)}",
                                f"expected a {expected}, got another kind of JSON value")
        if expected == "integer" and not (isinstance(value, int) or float(value).is_integer()):
            return ValueProblem(f"expected an integer, got {value!r}", "expected an integer, got a fraction")
        if not math.isfinite(value) and not interface.allow_nan:
            return ValueProblem(f"expected a finite number, got {value!r}",
                                "expected a finite number, got NaN or infinity")
        if interface.minimum is not None and value < interface.minimum:
            return ValueProblem(f"{value!r} is below the minimum {interface.minimum:g}",
                                f"the value is below the minimum {interface.minimum:g}")
        if interface.maximum is not None and value > interface.maximum:
            return ValueProblem(f"{value!r} is above the maximum {interface.maximum:g}",
                                f"the value is above the maximum {interface.maximum:g}")
    elif expected == "boolean" and not isinstance(value, bool):
        return ValueProblem(f"expected true or false, got {_short(value)}",
                            "expected true or false, got another kind of JSON value")
    elif expected == "string" and not isinstance(value, str):
        return ValueProblem(f"expected a string, got {_short(value)}",
                            "expected a string, got another kind of JSON value")
    elif expected == "object" and not isinstance(value, dict):
        return ValueProblem(f"expected a JSON object, got {_short(value)}",
                            "expected a JSON object, got another kind of JSON value")
    elif expected == "array" and not isinstance(value, list):
        return ValueProblem(f"expected a JSON array, got {_short(value)}",
                            "expected a JSON array, got another kind of JSON value")
    return None


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
