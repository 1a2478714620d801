"""Whether a JSON value fits its declared interface: checked when a test set is read and when outputs are scored."""

from __future__ import annotations

import json
import math
from typing import Any

from app.challenge_yaml import Interface


def check_json_value(value: Any, interface: Interface) -> str | None:
    """Why a JSON value does not fit its interface, or None when it fits."""
    expected = interface.json_type
    if expected in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a {expected}, got {type(value).__name__} {_short(value)}"
        if expected == "integer" and not (isinstance(value, int) or float(value).is_integer()):
            return f"expected an integer, got {value!r}"
        if not math.isfinite(value) and not interface.allow_nan:
            return f"expected a finite number, got {value!r}"
        if interface.minimum is not None and value < interface.minimum:
            return f"{value!r} is below the minimum {interface.minimum:g}"
        if interface.maximum is not None and value > interface.maximum:
            return f"{value!r} is above the maximum {interface.maximum:g}"
    elif expected == "boolean" and not isinstance(value, bool):
        return f"expected true or false, got {_short(value)}"
    elif expected == "string" and not isinstance(value, str):
        return f"expected a string, got {_short(value)}"
    elif expected == "object" and not isinstance(value, dict):
        return f"expected a JSON object, got {_short(value)}"
    elif expected == "array" and not isinstance(value, list):
        return f"expected a JSON array, got {_short(value)}"
    return None


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
