"""Per-case mode end to end: a container laid out exactly like grand-challenge.org's algorithm template runs here
unmodified, one run per case, two at a time; a case whose run fails is reported per case while the others are
scored; each case's run records its time, CPU seconds and peak memory, and the leaderboard shows the median and
95th percentile time and cost per case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import docker
import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from sqlalchemy import select, update

from app import create_app
from app.cli.leaderboard_text import format_leaderboard
from app.models import Case, CaseOutcome, EvaluationRun, User
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from runners.images import save_image
from tests.app.test_authorization_matrix import sign_in
from tests.fixtures.docker_engine import build_image, remove_image
from tests.integration.helpers import drain_queue, get_submission, make_user, submit_archive

pytestmark = pytest.mark.docker

CHALLENGE, PHASE = "per-case-prostate", "test"
AGES = {"c1": 61, "c2": 70, "c3": -1, "c4": 55}  # c3's container fails: it refuses a negative age
FAILING = "c3"
CASE_SECONDS = 1.0  # each case's run sleeps this long, so that two at once can be told from one at a time

# The algorithm, written as grand-challenge-forge's algorithm template writes inference.py (the interface key from
# /input/inputs.json, inputs found by their relative paths, an image by globbing its folder, outputs at
# /output/<relative_path> and the image as one file in /output/<relative_path>/), with a numpy-only MetaImage
# reader and writer in place of SimpleITK (the base image has none). It also checks the layout it was given, and
# writes when it ran (timing.json: not a declared output) so the test can count the runs at once.
INFERENCE = '''
import json, sys, time
from glob import glob
from pathlib import Path
import numpy

INPUT_PATH = Path("/input")
OUTPUT_PATH = Path("/output")
TYPES = {"MET_UCHAR": numpy.uint8, "MET_SHORT": numpy.int16, "MET_FLOAT": numpy.float32}


def run():
    started = time.time()
    interface_key = get_interface_key()
    handler = {("age-in-months", "prostate-t2"): interf0_handler}[interface_key]
    code = handler()
    time.sleep(__SECONDS__)
    (OUTPUT_PATH / "timing.json").write_text(json.dumps({"start": started, "end": time.time()}))
    return code


def interf0_handler():
    check_layout()
    input_age_in_months = load_json_file(location=INPUT_PATH / "age-in-months.json")
    input_prostate_t2 = load_image_file_as_array(location=INPUT_PATH / "images/prostate-t2")
    if input_age_in_months < 0:
        print("loading model", flush=True)
        print(f"ValueError: age {input_age_in_months} is negative", file=sys.stderr)
        return 1
    output_lesion_likelihood = float(input_prostate_t2.mean()) / 255.0
    output_lesion_mask = (input_prostate_t2 > 127).astype(numpy.uint8)
    write_json_file(location=OUTPUT_PATH / "lesion-likelihood.json", content=output_lesion_likelihood)
    write_array_as_image_file(location=OUTPUT_PATH / "images/lesion-mask", array=output_lesion_mask)
    return 0


def check_layout():
    inputs = load_json_file(location=INPUT_PATH / "inputs.json")
    assert sorted(p.name for p in INPUT_PATH.iterdir()) == ["age-in-months.json", "images", "inputs.json"]
    assert [p.name for p in (INPUT_PATH / "images").iterdir()] == ["prostate-t2"]
    images = list((INPUT_PATH / "images/prostate-t2").iterdir())
    assert len(images) == 1 and images[0].suffix == ".mha", images
    image = by_slug_of(inputs)["prostate-t2"]
    assert image["interface"]["super_kind"] == "Image" and image["interface"]["kind"] == "Image"
    assert images[0].name == image["image"]["pk"] + ".mha", (images, image)
    by_slug = {sv["interface"]["slug"]: sv for sv in inputs}
    for sv in inputs:
        assert sv["socket"] == sv["interface"], sv
        assert set(sv) == {"pk", "socket", "interface", "value", "file", "image"}, sv
    assert by_slug["age-in-months"]["interface"]["super_kind"] == "Value"
    assert by_slug["age-in-months"]["value"] == load_json_file(location=INPUT_PATH / "age-in-months.json")
    assert list(OUTPUT_PATH.iterdir()) == []


def by_slug_of(inputs):
    return {sv["interface"]["slug"]: sv for sv in inputs}


def get_interface_key():
    inputs = load_json_file(location=INPUT_PATH / "inputs.json")
    socket_slugs = [sv["interface"]["slug"] for sv in inputs]
    return tuple(sorted(socket_slugs))


def load_json_file(*, location):
    with open(location, "r") as f:
        return json.loads(f.read())


def write_json_file(*, location, content):
    with open(location, "w") as f:
        f.write(json.dumps(content, indent=4))


def load_image_file_as_array(*, location):
    input_files = glob(str(location / "*.tif")) + glob(str(location / "*.tiff")) + glob(str(location / "*.mha"))
    raw = Path(input_files[0]).read_bytes()
    head, data = raw.split(b"ElementDataFile = LOCAL\\n", 1)
    header = dict(line.split(" = ", 1) for line in head.decode().splitlines())
    shape = [int(n) for n in header["DimSize"].split()][::-1]
    return numpy.frombuffer(data, dtype=TYPES[header["ElementType"]]).reshape(shape)


def write_array_as_image_file(*, location, array):
    location.mkdir(parents=True, exist_ok=True)
    header = ("ObjectType = Image\\nNDims = 3\\nBinaryData = True\\nBinaryDataByteOrderMSB = False\\n"
              "CompressedData = False\\nDimSize = %d %d %d\\nElementSpacing = 1 1 1\\nOffset = 0 0 0\\n"
              "ElementType = MET_UCHAR\\nElementDataFile = LOCAL\\n") % tuple(array.shape[::-1])
    (location / "output.mha").write_bytes(header.encode() + numpy.ascontiguousarray(array).tobytes())


if __name__ == "__main__":
    raise SystemExit(run())
'''.replace("__SECONDS__", str(CASE_SECONDS))


def _volume(case: str) -> np.ndarray:
    rng = np.random.default_rng(sum(map(ord, case)))
    return rng.integers(0, 256, size=(4, 8, 8), dtype=np.uint8)


def _challenge(folder: Path) -> Path:
    spec: dict[str, Any] = {
        "version": 1, "slug": CHALLENGE, "title": "Per-case prostate (simulated)",
        "phases": [{
            "slug": PHASE, "title": "Test", "run_mode": "per-case", "test_set": "data/test",
            "missing_cases": "exclude",
            "limits": {"time_limit_seconds": 60, "memory_mb": 256, "cpus": 1.0, "cases_in_parallel": 2,
                       "output_mb": 4, "log_kb": 64},
            "inputs": [
                {"slug": "age-in-months", "kind": "json", "relative_path": "age-in-months.json",
                 "json_type": "number"},
                {"slug": "prostate-t2", "kind": "image", "relative_path": "images/prostate-t2"},
            ],
            "outputs": [
                {"slug": "lesion-likelihood", "kind": "json", "relative_path": "lesion-likelihood.json",
                 "json_type": "number", "minimum": 0, "maximum": 1},
                {"slug": "lesion-mask", "kind": "image", "relative_path": "images/lesion-mask",
                 "image": {"same_grid_as": "prostate-t2", "values": [0, 1], "pixel_type": ["uint8"]}},
            ],
            "ground_truth": [{"slug": "label", "kind": "json", "relative_path": "label.json",
                              "json_type": "number"}],
            "metrics": [{"name": "mae", "prediction": "lesion-likelihood", "target": "label"}],
            "ranking": {"metric": "mae"},
        }],
    }
    (folder / "challenge.yaml").write_text(yaml.safe_dump(spec))
    test = folder / "data" / "test"
    (test / "inputs").mkdir(parents=True)
    (test / "cases.csv").write_text("case_id,site\n" + "".join(f"{c},A\n" for c in AGES))
    for case, age in AGES.items():
        inputs = test / "inputs" / case
        (inputs / "images" / "prostate-t2").mkdir(parents=True)
        (inputs / "age-in-months.json").write_text(json.dumps(age))
        image = sitk.GetImageFromArray(_volume(case))
        sitk.WriteImage(image, str(inputs / "images" / "prostate-t2" / "t2.mha"), useCompression=False)
        truth = test / "ground_truth" / case
        truth.mkdir(parents=True)
        (truth / "label.json").write_text("0.5")
    return folder


@pytest.fixture
def gc_archive(docker_client: docker.DockerClient, python_base_image: str, tmp_path: Path) -> Any:
    tag = "podium-test/gc-template-algorithm:latest"
    build_image(docker_client, f'FROM {python_base_image}\nCOPY inference.py /opt/app/inference.py\n'
                               'WORKDIR /opt/app\nENTRYPOINT ["python3", "inference.py"]\n',
                {"inference.py": INFERENCE}, tag)
    archive = tmp_path / "gc-template-algorithm.tar.gz"
    save_image(docker_client, tag, archive)
    yield archive
    remove_image(docker_client, tag)


def test_a_grand_challenge_container_runs_per_case(resources: Resources, settings, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                  gc_archive: Path) -> None:
    folder = tmp_path / "challenge"
    folder.mkdir()
    with resources.session() as session:
        apply_challenge(session, resources.store, _challenge(folder))
    priced = settings.with_overrides(price_cpu_hour=36.0, price_gb_hour=1.0, price_currency="EUR")
    client = create_app(priced).test_client()
    token = make_user(resources, "gc-lab")
    status, created = submit_archive(client, token, gc_archive, "gc template", challenge=CHALLENGE, phase=PHASE)
    assert status == 201, created
    drain_queue(settings)

    result = get_submission(client, token, created["id"])
    assert result["state"] == "succeeded", result
    with resources.session() as session:
        run = session.scalar(select(EvaluationRun).where(EvaluationRun.submission_id == created["id"]))
        assert run is not None
        outcomes = {key: outcome for outcome, key in session.execute(
            select(CaseOutcome, Case.case_key).join(Case, Case.id == CaseOutcome.case_id)
            .where(CaseOutcome.run_id == run.id))}
        figures = {key: (o.wall_seconds, o.cpu_seconds, o.peak_memory_mb) for key, o in outcomes.items()}
        totals = (run.container_seconds, run.cpu_seconds, run.peak_memory_mb, run.exit_code, run.cases_invalid)
        statuses = {key: (o.status, o.message, o.prediction) for key, o in outcomes.items()}

    # Each case's outputs, scored; the failing case reported with its own run's message.
    status_of_failing, message, _ = statuses.pop(FAILING)
    assert status_of_failing == "missing"
    assert message == "the container exited with code 1: ValueError: age -1 is negative"
    for case, (case_status, _, prediction) in statuses.items():
        assert case_status == "valid", (case, statuses[case])
        assert prediction["lesion-likelihood"] == pytest.approx(float(_volume(case).mean()) / 255)
    assert totals[3] == 1 and totals[4] == 1
    expected_mae = np.mean([abs(float(_volume(c).mean()) / 255 - 0.5) for c in statuses])
    assert result["scores"]["mae"]["value"] == pytest.approx(expected_mae)

    # Stored under <case id>/<relative_path>, as in batch mode; nothing of the failed case's run counts.
    prefix = f"submissions/{created['id']}/outputs/"
    stored = set(resources.store.list(prefix))
    for case in statuses:
        assert f"{prefix}{case}/lesion-likelihood.json" in stored
        mask = tmp_path / f"{case}-mask.mha"
        mask.write_bytes(resources.store.get_bytes(f"{prefix}{case}/images/lesion-mask/output.mha"))
        assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(mask))), _volume(case) > 127)
    assert not any(key.startswith(f"{prefix}{FAILING}/") for key in stored)

    # cases_in_parallel = 2: two runs at once at some point, never three.
    spans = [json.loads(resources.store.get_bytes(f"{prefix}{case}/timing.json")) for case in statuses]
    assert _most_at_once(spans) <= 2
    assert _most_at_once(spans) == 2 or len(spans) < 2

    # Each case's run recorded its figures; the run's are their totals.
    walls = [figures[c][0] for c in AGES]
    assert all(w is not None and w >= CASE_SECONDS * (c != FAILING) for c, w in zip(AGES, walls, strict=True))
    assert all(f[1] is not None and f[2] is not None and f[2] > 1 for f in figures.values()), figures
    assert totals[0] == pytest.approx(sum(walls))
    assert totals[1] == pytest.approx(sum(f[1] for f in figures.values()))
    assert totals[2] == pytest.approx(max(f[2] for f in figures.values()))

    # The leaderboard: mean time and cost per case, and their median and 95th percentile over the cases' runs.
    board = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard").get_json()
    row = board["rows"][0]
    assert row["seconds_per_case"] == pytest.approx(sum(walls) / 4)
    assert row["seconds_per_case_median"] == pytest.approx(float(np.median(walls)))
    assert row["seconds_per_case_p95"] == pytest.approx(float(np.percentile(walls, 95)))
    costs = [f[1] / 3600 * 36.0 + f[2] / 1024 * f[0] / 3600 * 1.0 for f in (figures[c] for c in AGES)]
    assert row["cost_per_case_median"] == pytest.approx(float(np.median(costs)))
    assert row["cost_per_case_p95"] == pytest.approx(float(np.percentile(costs, 95)))
    text = format_leaderboard(board)
    assert f"(median {row['seconds_per_case_median']:.3g}, p95 {row['seconds_per_case_p95']:.3g})" in text
    page = client.get(f"/challenges/{CHALLENGE}/{PHASE}/leaderboard").get_data(as_text=True)
    assert f"median {row['seconds_per_case_median']:.3g} s, p95 {row['seconds_per_case_p95']:.3g} s" in page

    # Each case's figures on its per-case results (here read by an admin).
    admin = make_user(resources, "gc-admin")
    with resources.session() as session:
        session.execute(update(User).where(User.username == "gc-admin").values(is_admin=True))
    cases = client.get(f"/api/v1/submissions/{created['id']}/cases",
                       headers={"Authorization": f"Bearer {admin}"}).get_json()["cases"]
    assert {c["case_id"]: c["wall_seconds"] for c in cases} == {c: figures[c][0] for c in AGES}
    assert {c["case_id"]: c["peak_memory_mb"] for c in cases} == {c: figures[c][2] for c in AGES}
    challenge_page = client.get(f"/challenges/{CHALLENGE}").get_data(as_text=True)
    assert "One run per case, as on grand-challenge.org, 2 at a time sharing 1.0 CPU" in challenge_page
    browser = create_app(settings).test_client()
    sign_in(browser, admin)
    page = browser.get(f"/submissions/{created['id']}/cases").get_data(as_text=True)
    assert f'class="case-seconds">{figures["c1"][0]:.2f}</td>' in page


def _most_at_once(spans: list[dict[str, float]]) -> int:
    events = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans], key=lambda e: (e[0], e[1]))
    most = running = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most
