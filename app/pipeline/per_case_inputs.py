"""What one case's /input holds in per-case mode: the layout grand-challenge.org gives its algorithm containers.

grand-challenge.org (components/backends/base.py, `_get_civ_provisioning_tasks` and `_with_inputs_json`) writes,
for each input of a job:
- an image (super kind "Image"): the image's one file in the folder `/input/<relative_path>/`, under the file
  name its storage gave it (`<image uuid>.mha`, or `.tif`);
- a value (super kind "Value"): `json.dumps(value)` at `/input/<relative_path>`;
- a file (super kind "File"): the raw file at `/input/<relative_path>`;
- `/input/inputs.json`: every input serialised by its ComponentInterfaceValueSerializer: a list of
  {"pk", "socket", "interface", "value", "file", "image"}, where "socket" and "interface" are the same object
  (the interface: title, description, slug, kind, pk, default_value, super_kind, relative_path, overlay_segments,
  look_up_table; "interface" is kept for older containers) and "image" is {"pk", "name"} or null.
Containers built from its templates find their inputs by these paths, glob `*.mha`/`*.tif*` in an image's folder,
and key their handler on the sorted slugs of inputs.json's sockets: so the same here.

Where grand-challenge's inputs.json names something that does not exist here, the nearest thing is given: "file"
is the in-container path of the file (grand-challenge gives a URL of its storage, which no container can reach),
primary keys are numbers counted from 1 in the order the phase declares its inputs, and an image's uuid is derived
from the test set's content, the case and the input (stable across runs of the same test set; it does not name
the case).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from app.challenge_yaml import Interface

INPUTS_JSON = "inputs.json"
# uuid5 namespace of the images' uuids (any fixed uuid would do; this one is uuid5(NAMESPACE_URL, "podium:image")).
_IMAGE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "podium:image")
_JSON_KINDS = {"number": "Float", "integer": "Integer", "boolean": "Bool", "string": "String"}
_FILE_KINDS = {".csv": "CSV file", ".zip": "ZIP file", ".pdf": "PDF file", ".mp4": "MP4 file", ".obj": "OBJ file",
               ".jpg": "Thumbnail jpg", ".jpeg": "Thumbnail jpg", ".png": "Thumbnail png"}
_DOUBLE_SUFFIXES = (".nii.gz",)


@dataclass(frozen=True)
class CaseInputFile:
    """One file of a case's /input: where it comes from in the test set, and where the container sees it."""

    slug: str
    stored: str | None  # relative to the case's folder of the test set's inputs; None: write `content` instead
    target: str  # relative to the case's /input
    content: bytes | None = None


def case_input_layout(content_hash: str, case_id: str, inputs: dict[str, Any],
                      interfaces: list[Interface]) -> list[CaseInputFile]:
    """Every file of one case's /input, inputs.json last."""
    files: list[CaseInputFile] = []
    entries: list[dict[str, Any]] = []
    for number, interface in enumerate(interfaces, start=1):
        value = inputs.get(interface.slug)
        entry: dict[str, Any] = {"pk": number, "value": None, "file": None, "image": None}
        socket = _socket(interface, number)
        entry["socket"] = entry["interface"] = socket
        if interface.kind == "image":
            stored = _stored_relative(case_id, value, interface)
            name = PurePosixPath(stored).name
            image_id = str(uuid.uuid5(_IMAGE_NAMESPACE, f"{content_hash}/{case_id}/{interface.slug}"))
            files.append(CaseInputFile(interface.slug, stored, f"{interface.relative_path}/{image_id}{_suffix(name)}"))
            entry["image"] = {"pk": image_id, "name": name}
        elif interface.kind == "file":
            files.append(CaseInputFile(interface.slug, _stored_relative(case_id, value, interface),
                                       interface.relative_path))
            entry["file"] = f"/input/{interface.relative_path}"
        else:
            files.append(CaseInputFile(interface.slug, None, interface.relative_path, json.dumps(value).encode()))
            entry["value"] = value
        entries.append(entry)
    files.append(CaseInputFile("", None, INPUTS_JSON, json.dumps(entries).encode()))
    return files


def layout_digest(interfaces: list[Interface]) -> str:
    """What, besides the test set's content, decides the staged folders: the inputs' declarations."""
    import hashlib

    text = json.dumps([i.model_dump(mode="json") for i in interfaces], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _socket(interface: Interface, number: int) -> dict[str, Any]:
    if interface.kind == "image":
        kind, super_kind = "Image", "Image"
    elif interface.kind == "file":
        kind, super_kind = _FILE_KINDS.get(PurePosixPath(interface.relative_path).suffix.lower(), "Anything"), "File"
    else:
        kind, super_kind = _JSON_KINDS.get(interface.json_type or "", "Anything"), "Value"
    return {"title": interface.slug.replace("-", " ").capitalize(), "description": interface.description,
            "slug": interface.slug, "kind": kind, "pk": number, "default_value": None, "super_kind": super_kind,
            "relative_path": interface.relative_path, "overlay_segments": [], "look_up_table": None}


def _stored_relative(case_id: str, value: Any, interface: Interface) -> str:
    """Where the test set keeps a file or image input, relative to the case's folder: the case's inputs name it
    as "<case id>/<path>" (an image: "<case id>/<relative_path>/<file name>")."""
    prefix = f"{case_id}/"
    if isinstance(value, str) and value.startswith(prefix) and len(value) > len(prefix):
        return value[len(prefix):]
    return interface.relative_path


def _suffix(name: str) -> str:
    lowered = name.lower()
    for suffix in _DOUBLE_SUFFIXES:
        if lowered.endswith(suffix):
            return name[-len(suffix):]
    return PurePosixPath(name).suffix
