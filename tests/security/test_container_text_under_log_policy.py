"""Text the container chose never reaches a participant under the failure-message policy.

A participant's container reads the hidden test inputs; any text of its choosing that comes back to the
participant can carry them out. Under `log_visibility: failure-message` (the default for a hidden test set)
participants read neither its logs nor the names of the files and folders it wrote, nor what it wrote in
them: the failure message and the run's notes are given to them in the platform's own words and counts
(app/pipeline/scoring.py Message), stored beside the full text that organisers, and participants of phases
with full logs, still read. Under `state` they read none of it.

The end-to-end tests run a real hostile container (busybox) through the REST API and a real RQ worker: it
names files and folders after the first hidden input's first value, writes that value into its outputs, and
prints it; then the participant's REST answers and web pages are searched for it under each policy.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.challenge_yaml import Interface
from app.config import Settings
from app.interface_values import check_json_value, json_value_problem
from app.models import Challenge, EvaluationRun, Submission, SubmissionState, User
from app.pipeline.scoring import score_outputs
from app.queries.phases import get_phase
from app.queries.submission_summary import OLDER_FAILURE_MESSAGE
from app.resources import Resources
from app.usecases.membership import add_organiser
from runners.outputs import SPECIAL, SYMLINK, read_output_bytes
from tests.conftest import EXAMPLE_CHALLENGE
from tests.integration.helpers import (
    CHALLENGE,
    PHASE,
    apply_example,
    get_submission,
    make_user,
    set_log_visibility,
)
from tests.security.images import BUSYBOX_ATTACKS, HostileImages
from tests.security.instance import Platform

MARKER = "EXFIL"  # every name and value the hostile container makes carries it
OUTPUT = "malignancy-likelihood.json"

# The first case's first input value, digits only (e.g. "area error": 23.13 -> 2313), as the marker
# EXFIL<digits>LIFXE: in a string where a number belongs, at the start of a file that is not JSON, as the
# name of a folder that names no case, of a file that is not a declared output (at the top and in a case's
# folder), and of a symbolic link; and as the number 7<digits>7<digits>7, far above the output's maximum.
EXFILTRATING_NAMES = r"""
predict
set -- $(cases)
v=$(cut -d, -f1 /input/$1/nuclei-features.json | cut -d: -f2 | tr -cd 0-9)
m="EXFIL${v}LIFXE"
o=malignancy-likelihood.json
printf '"%s"' "$m" > /output/$1/$o
printf '%s' "$m" > /output/$2/$o
printf 1 > "/output/$3/$m.json"
printf '7%s7%s7' "$v" "$v" > /output/$4/$o
mkdir "/output/$m" && printf 0.5 > "/output/$m/$o"
printf x > "/output/$m.txt"
ln -s /etc/passwd "/output/$m-link"
echo "$m"
echo "$m" >&2
"""
BUSYBOX_ATTACKS.setdefault("exfiltrating-names", EXFILTRATING_NAMES)


def _hidden_digits(case: str) -> str:
    """What the container reads: the digits of the first value in the case's hidden input."""
    text = (EXAMPLE_CHALLENGE / "data" / "test" / "inputs" / case / "nuclei-features.json").read_text()
    return re.sub(r"\D", "", text.split(",")[0].split(":")[1])


# ---- the wordings, where they are made ------------------------------------------------------------

NUMBER = Interface(slug="score", kind="json", relative_path="p.json", json_type="number", minimum=0, maximum=1)
INTEGER = Interface(slug="count", kind="json", relative_path="n.json", json_type="integer")
TRUTH = Interface(slug="label", kind="json", relative_path="y.json", json_type="integer")


@pytest.mark.parametrize(("interface", "value", "quoted", "safe"), [
    (NUMBER, "EXFIL-4711", '"EXFIL-4711"', "expected a number, got another kind of JSON value"),
    (NUMBER, ["EXFIL-4711"], '["EXFIL-4711"]', "expected a number, got another kind of JSON value"),
    (NUMBER, {"EXFIL-4711": 1}, '{"EXFIL-4711": 1}', "expected a number, got another kind of JSON value"),
    (NUMBER, True, "bool true", "expected a number, got another kind of JSON value"),
    (NUMBER, None, "null", "expected a number, got another kind of JSON value"),
    (NUMBER, 4711.25, "4711.25", "the value is above the maximum 1"),
    (NUMBER, -4711.25, "-4711.25", "the value is below the minimum 0"),
    (NUMBER, math.inf, "got inf", "expected a finite number, got NaN or infinity"),
    (INTEGER, 4711.25, "4711.25", "expected an integer, got a fraction"),
    (Interface(slug="bb", kind="json", relative_path="b.json", json_type="boolean"), "EXFIL-4711", '"EXFIL-4711"',
     "expected true or false, got another kind of JSON value"),
    (Interface(slug="ss", kind="json", relative_path="s.json", json_type="string"), 4711, "4711",
     "expected a string, got another kind of JSON value"),
    (Interface(slug="oo", kind="json", relative_path="o.json", json_type="object"), "EXFIL-4711", '"EXFIL-4711"',
     "expected a JSON object, got another kind of JSON value"),
    (Interface(slug="aa", kind="json", relative_path="a.json", json_type="array"), "EXFIL-4711", '"EXFIL-4711"',
     "expected a JSON array, got another kind of JSON value"),
])
def test_a_value_problem_quotes_the_value_only_in_its_full_wording(interface: Interface, value: Any, quoted: str,
                                                                   safe: str) -> None:
    problem = json_value_problem(value, interface)
    assert problem is not None
    assert problem.safe == safe
    assert quoted in problem.text  # organisers (and phases with full logs) still read what was written
    assert quoted not in problem.safe and "4711" not in problem.safe and MARKER not in problem.safe
    assert check_json_value(value, interface) == problem.text  # the test-set checks keep their wording


def _write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    found = {}
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        found[relative] = path
    return found


def _score_hostile_outputs(tmp_path: Path, missing_cases: str):  # type: ignore[no-untyped-def]
    cases = ["c1", "c2", "c3", "c4", "c5", "c6"]
    outputs = _write(tmp_path / "out", {
        "c1/p.json": '"EXFIL-4711"',  # a string where a number belongs
        "c2/p.json": "EXFIL-4711 is not JSON",
        "c3/p.json": "47114711",  # above the maximum: the number itself is the container's choice
        "c4/p.json": "0.5", "c4/EXFIL-4711.json": "1",  # an extra file in a case's folder
        "c5/p.json": "0.25",
        "EXFIL-4711/p.json": "0.5", "EXFIL-4712/p.json": "0.5",  # folders that name no case
        "EXFIL-4711.txt": "x",  # a file that is not a declared output
    })
    rejected = {"c6/p.json": SYMLINK, "EXFIL-4711-link": SYMLINK, "EXFIL-4711-fifo": SPECIAL,
                "EXFIL-4711-odd": "a reason that is not the collector's: EXFIL-4711"}
    truth = _write(tmp_path / "truth", {f"{case}/y.json": str(i % 2) for i, case in enumerate(cases)})
    return score_outputs(case_keys=cases, outputs=[NUMBER], ground_truth=[TRUTH],
                         metrics=[{"name": "auroc", "prediction": "score", "target": "label"}],
                         output_files=outputs, rejected_files=rejected, truth_dir=truth["c1/y.json"].parent.parent,
                         read_output=read_output_bytes, missing_cases=missing_cases)


def test_scoring_words_every_problem_and_note_twice(tmp_path: Path) -> None:
    result = _score_hostile_outputs(tmp_path, "fail")

    assert not result.ok
    safe = result.failure_message(safe=True)
    assert safe == (
        "4 of 6 cases have no valid output, so the submission was not scored; every case needs every declared "
        "output (see the container contract):\n"
        "  - c1: /output/c1/p.json: expected a number, got another kind of JSON value\n"
        "  - c2: /output/c2/p.json is not valid JSON\n"
        "  - c3: /output/c3/p.json: the value is above the maximum 1\n"
        "  - c6: /output/c6/p.json was ignored (symbolic link); write a regular file")
    assert result.note_texts(safe=True) == [
        "ignored 4 entries of /output that are not regular files or could not be read (device or special file: 1, "
        "other: 1, symbolic link: 2)",
        "ignored outputs in 2 folders of /output that name no case of the test set",
        "ignored 4 files in /output that are not declared outputs",
    ]
    assert [c.safe_message for c in result.cases][:3] == [
        "/output/c1/p.json: expected a number, got another kind of JSON value",
        "/output/c2/p.json is not valid JSON", "/output/c3/p.json: the value is above the maximum 1"]

    full = result.failure_message() + "\n".join(result.note_texts()) + "".join(c.message for c in result.cases)
    for quoted in ('"EXFIL-4711"', "'EXFIL-4711 is not JSON'", "47114711", "EXFIL-4711-link (symbolic link)",
                   "EXFIL-4711, EXFIL-4712", "e.g. EXFIL-4711.txt", "EXFIL-4711-fifo (device or special file)"):
        assert quoted in full  # organisers read everything
    everything_safe = safe + "".join(result.note_texts(safe=True)) + "".join(c.safe_message for c in result.cases)
    assert MARKER not in everything_safe and "4711" not in everything_safe


def test_a_scored_run_with_excluded_cases_words_its_notes_twice(tmp_path: Path) -> None:
    result = _score_hostile_outputs(tmp_path, "exclude")

    assert result.ok and "auroc" in result.scores
    assert result.note_texts(safe=True)[0] == result.note_texts()[0] == "4 case(s) without a valid output were excluded"
    assert MARKER in "".join(result.note_texts())
    assert not any(MARKER in note or "4711" in note for note in result.note_texts(safe=True))


def test_long_lists_of_names_stay_short_in_the_full_wording(tmp_path: Path) -> None:
    rejected = {f"link-{i:03d}": SYMLINK for i in range(120)}
    result = score_outputs(case_keys=[], outputs=[NUMBER], ground_truth=[TRUTH], metrics=[], output_files={},
                           rejected_files=rejected, truth_dir=tmp_path, read_output=read_output_bytes)
    assert result.note_texts() == ["ignored 120 entries of /output that are not regular files or could not be read: "
                                   + ", ".join(f"link-{i:03d} (symbolic link)" for i in range(10))
                                   + ", ... and 110 more"]
    assert result.note_texts(safe=True) == ["ignored 120 entries of /output that are not regular files or could not "
                                            "be read (symbolic link: 120)"]


# ---- rows from before the participant-safe versions were stored (migration 0014) ---------------------

def test_rows_from_before_the_safe_text_show_participants_a_generic_text(resources: Resources,
                                                                         settings: Settings) -> None:
    apply_example(resources)
    set_log_visibility(resources, "failure-message")
    participant, organiser = make_user(resources, "old-timer"), make_user(resources, "old-organiser")
    full = ("1 of 228 cases have no valid output, so the submission was not scored; every case needs every "
            "declared output (see the container contract):\n  - case-0001: /output/case-0001/x.json is not valid "
            "JSON (starts with 'EXFIL-4711')")
    with resources.session() as session:
        add_organiser(session, session.scalars(select(Challenge).where(Challenge.slug == CHALLENGE)).one(),
                      "old-organiser")
        phase = get_phase(session, CHALLENGE, PHASE)
        owner = session.scalars(select(User).where(User.username == "old-timer")).one()

        def failed(message: str, *, ran: bool, notes: list[str] | None = None,
                   state: SubmissionState = SubmissionState.FAILED, **fields: Any) -> int:
            submission = Submission(phase_id=phase.id, user_id=owner.id, state=state, failure_message=message,
                                    **fields)
            session.add(submission)
            session.flush()
            if ran:
                session.add(EvaluationRun(submission_id=submission.id, test_set_id=phase.current_test_set_id,
                                          exit_code=0, notes=notes or [], participant_notes=None))
            return submission.id

        scored = failed(full, ran=True, notes=["ignored EXFIL-4711.txt: symbolic link", "ignored EXFIL-4712: x"])
        crashed = failed("the container exited with code 3", ran=True, failure_output="EXFIL-4711")
        refused = failed("the archive holds no image", ran=False)
        platform_fault = failed("the platform failed while evaluating this submission (storage was unavailable)",
                                ran=True, failure_is_infrastructure=True)
        cancelled = failed("cancelled by you", ran=True, state=SubmissionState.CANCELLED)
    client = create_app(settings).test_client()

    mine = get_submission(client, participant, scored)
    assert mine["failure_message"] == OLDER_FAILURE_MESSAGE
    assert mine["run"]["notes"] == ["2 note(s) on this run are shown to the challenge's organisers only"]
    assert get_submission(client, participant, crashed)["failure_message"] == OLDER_FAILURE_MESSAGE
    assert get_submission(client, participant, refused)["failure_message"] == "the archive holds no image"
    assert get_submission(client, participant, platform_fault)["failure_message"].startswith("the platform failed")
    assert get_submission(client, participant, cancelled)["failure_message"] == "cancelled by you"
    listed = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/submissions",
                        headers={"Authorization": f"Bearer {participant}"})
    assert listed.status_code == 200 and MARKER not in listed.get_data(as_text=True)

    theirs = get_submission(client, organiser, scored)
    assert theirs["failure_message"] == full
    assert theirs["run"]["notes"] == ["ignored EXFIL-4711.txt: symbolic link", "ignored EXFIL-4712: x"]
    assert get_submission(client, organiser, crashed)["failure_message"] == (
        "the container exited with code 3: EXFIL-4711")

    set_log_visibility(resources, "full")
    assert get_submission(client, participant, scored)["failure_message"] == full
    set_log_visibility(resources, "state")
    bare = get_submission(client, participant, scored)
    assert bare["failure_message"] is None and bare["run"] is None


# ---- end to end: a real hostile container, the REST API, the web pages and a real RQ worker -----------

def _signed_in(settings: Settings, token: str) -> FlaskClient:
    client = create_app(settings).test_client()
    login = client.get("/login").get_data(as_text=True)
    csrf = login.split('name="csrf" value="')[1].split('"')[0]
    assert client.post("/login", data={"token": token, "csrf": csrf}).status_code == 302
    return client


def _everything_a_participant_reads(platform: Platform, web: FlaskClient, token: str, submission: int) -> str:
    """The submission's REST answer, the list of their submissions, its page and the upload page, as text."""
    auth = {"Authorization": f"Bearer {token}"}
    answers = [platform.client.get(f"/api/v1/submissions/{submission}", headers=auth),
               platform.client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/submissions", headers=auth),
               web.get(f"/submissions/{submission}"), web.get(f"/challenges/{CHALLENGE}/{PHASE}/submit")]
    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    return "\n".join(a.get_data(as_text=True) for a in answers)


def _setup(platform: Platform, hostile: HostileImages, missing_cases: str) -> tuple[int, str, str, list[str]]:
    platform.set_limits(missing_cases=missing_cases)
    token, organiser = platform.participant("exfiltrator"), platform.participant("the-organiser")
    with platform.resources.session() as session:
        add_organiser(session, session.scalars(select(Challenge).where(Challenge.slug == CHALLENGE)).one(),
                      "the-organiser")
    submission = platform.submit(token, hostile.attack("exfiltrating-names").archive)
    platform.drain()
    return submission, token, organiser, platform.test_set().case_ids


@pytest.mark.docker
def test_a_participant_reads_no_name_or_value_their_container_chose(platform: Platform,
                                                                    hostile: HostileImages) -> None:
    submission, token, organiser, cases = _setup(platform, hostile, "fail")
    digits = _hidden_digits(cases[0])
    marker, number = f"EXFIL{digits}LIFXE", f"7{digits}7{digits}7"
    web = _signed_in(platform.settings, token)

    set_log_visibility(platform.resources, "failure-message")
    mine = platform.result(submission)
    assert mine["state"] == "failed" and mine["log_visibility"] == "failure-message"
    where = [f"/output/{case}/{OUTPUT}" for case in cases]
    assert mine["failure_message"] == (
        "3 of 228 cases have no valid output, so the submission was not scored; every case needs every declared "
        "output (see the container contract):\n"
        f"  - {cases[0]}: {where[0]}: expected a number, got another kind of JSON value\n"
        f"  - {cases[1]}: {where[1]} is not valid JSON\n"
        f"  - {cases[3]}: {where[3]}: the value is above the maximum 1")
    assert mine["run"]["notes"] == [
        "ignored 1 entry of /output that is not a regular file or could not be read (symbolic link: 1)",
        "ignored outputs in 1 folder of /output that names no case of the test set",
        "ignored 3 files in /output that are not declared outputs",
    ]
    assert mine["run"]["stderr_tail"] == "" and (mine["run"]["cases_valid"], mine["run"]["cases_invalid"]) == (225, 3)
    shown = _everything_a_participant_reads(platform, web, token, submission)
    assert MARKER not in shown and number not in shown
    assert 'id="container-text-hidden"' in shown  # the page says why the details are missing
    for stream in ("stdout", "stderr"):
        log = platform.client.get(f"/api/v1/submissions/{submission}/logs/{stream}",
                                  headers={"Authorization": f"Bearer {token}"})
        assert log.status_code == 404 and MARKER not in log.get_data(as_text=True)

    # The organisers read every detail: the channel was real, and it is still there for them to debug.
    theirs = get_submission(platform.client, organiser, submission)
    assert theirs["log_visibility"] == "full"
    assert f'{where[0]}: expected a number, got str "{marker}"' in theirs["failure_message"]
    assert f"{where[1]} is not valid JSON (starts with '{marker}')" in theirs["failure_message"]
    assert f"{where[3]}: {number} is above the maximum 1" in theirs["failure_message"]
    assert theirs["run"]["notes"] == [
        f"ignored 1 entry of /output that is not a regular file or could not be read: {marker}-link (symbolic link)",
        f"ignored outputs for 1 case id(s) not in the test set: {marker}",
        f"ignored 3 file(s) that are not declared outputs, e.g. {marker}.txt",
    ]
    assert marker in theirs["run"]["stderr_tail"]
    organiser_page = _signed_in(platform.settings, organiser).get(f"/submissions/{submission}").get_data(as_text=True)
    assert marker in organiser_page

    # A phase that shows full logs shows its participants the same detail.
    set_log_visibility(platform.resources, "full")
    full = platform.result(submission)
    assert full["failure_message"] == theirs["failure_message"] and full["run"]["notes"] == theirs["run"]["notes"]
    assert marker in web.get(f"/submissions/{submission}").get_data(as_text=True)

    # "state": nothing of the run at all.
    set_log_visibility(platform.resources, "state")
    bare = platform.result(submission)
    assert bare["failure_message"] is None and bare["run"] is None
    assert MARKER not in _everything_a_participant_reads(platform, web, token, submission)


@pytest.mark.docker
def test_a_scored_run_tells_a_participant_what_was_ignored_in_counts_only(platform: Platform,
                                                                          hostile: HostileImages) -> None:
    submission, token, organiser, cases = _setup(platform, hostile, "exclude")
    digits = _hidden_digits(cases[0])
    number = f"7{digits}7{digits}7"
    web = _signed_in(platform.settings, token)

    set_log_visibility(platform.resources, "failure-message")
    mine = platform.result(submission)
    assert mine["state"] == "succeeded", mine["failure_message"]
    assert mine["failure_message"] is None and "auroc" in mine["scores"]
    assert mine["run"]["notes"] == [
        "3 case(s) without a valid output were excluded",
        "ignored 1 entry of /output that is not a regular file or could not be read (symbolic link: 1)",
        "ignored outputs in 1 folder of /output that names no case of the test set",
        "ignored 3 files in /output that are not declared outputs",
    ]
    shown = _everything_a_participant_reads(platform, web, token, submission)
    assert MARKER not in shown and number not in shown

    theirs = get_submission(platform.client, organiser, submission)
    assert theirs["run"]["notes"][0] == "3 case(s) without a valid output were excluded"
    assert all(f"EXFIL{digits}LIFXE" in note for note in theirs["run"]["notes"][1:])
