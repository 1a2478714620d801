"""Containers that lie in their outputs or in what the platform shows: the per-case report holds the line.

Policy (app/services/scoring.py): every case needs a valid value for every declared output, otherwise the
submission fails with a per-case report and is not scored; extra files are ignored.
"""

from __future__ import annotations

import pytest

from tests.security.images import HostileImages
from tests.security.instance import Platform

pytestmark = pytest.mark.docker

OUTPUT = "malignancy-likelihood.json"


def test_lies_in_outputs_fail_with_a_per_case_report(platform: Platform, hostile: HostileImages) -> None:
    submission = platform.submit(platform.participant("liar"), hostile.attack("liar").archive)

    platform.drain()

    cases = platform.test_set().case_ids
    path = [f"/output/{case}/{OUTPUT}" for case in cases]
    problems = [
        f"{cases[0]}: {path[0]} is missing",
        f"{cases[1]}: {path[1]}: expected a finite number, got nan",  # NaN
        f"{cases[2]}: {path[2]}: expected a finite number, got inf",  # Infinity
        f"{cases[3]}: {path[3]}: expected a finite number, got -inf",  # -Infinity
        f'{cases[4]}: {path[4]}: expected a number, got str "0.5"',
        f"{cases[5]}: {path[5]}: expected a number, got list [0.5]",
        f"{cases[6]}: {path[6]}: 1.5 is above the maximum 1",
        f"{cases[7]}: {path[7]} is not valid JSON (starts with 'maybe')",
        f"{cases[8]}: {path[8]} is not valid JSON (starts with '')",  # an empty file
        f"{cases[9]}: {path[9]}: expected a number, got bool true",
        # not shown (at most 10 are): null, a 1.1 MB number, a folder where the file should be
    ]
    result = platform.result(submission)
    assert result["state"] == "failed" and result["failure_is_infrastructure"] is False
    assert result["failure_message"] == (
        "13 of 228 cases have no valid output, so the submission was not scored; every case needs every "
        "declared output (see the container contract):\n  - " + "\n  - ".join(problems) + "\n  ... and 3 more")
    assert (result["run"]["cases_valid"], result["run"]["cases_invalid"]) == (215, 13)
    assert result["scores"] == {}
    assert platform.log(submission, "stdout") == b"lies told\n"


def test_extra_outputs_and_unknown_cases_change_nothing(platform: Platform, hostile: HostileImages) -> None:
    submission = platform.submit(platform.participant("extras"), hostile.attack("extras").archive)

    platform.drain()

    result = platform.result(submission)
    assert result["state"] == "succeeded", result["failure_message"]
    assert result["run"]["cases_valid"] == 228
    assert result["scores"]["auroc"]["value"] == pytest.approx(0.5)  # constant predictions, extras ignored
    board = platform.client.get("/api/v1/challenges/breast-cancer-wisconsin/phases/test/leaderboard").get_json()
    assert [row["submission_id"] for row in board["rows"]] == [submission]  # ranked once, as itself


def test_extra_outputs_and_unknown_cases_are_reported_to_the_participant(platform: Platform,
                                                                        hostile: HostileImages) -> None:
    submission = platform.submit(platform.participant("extras"), hostile.attack("extras").archive)

    platform.drain()

    shown = str(platform.result(submission))
    assert "not-a-case" in shown and "README.txt" in shown


def test_markup_in_a_failure_message_is_shown_as_text(platform: Platform, hostile: HostileImages) -> None:
    token = platform.participant("marker")
    submission = platform.submit(token, hostile.attack("markup").archive)

    platform.drain()

    markup = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
    result = platform.result(submission)
    assert result["failure_message"] == f"the container exited with code 1: {markup}"
    login = platform.client.get("/login").get_data(as_text=True)
    csrf = login.split('name="csrf" value="')[1].split('"')[0]
    assert platform.client.post("/login", data={"token": token, "csrf": csrf}).status_code == 302  # signed in
    page = platform.client.get(f"/submissions/{submission}")
    assert page.status_code == 200
    assert b"&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page.data
    assert b"<script>" not in page.data and b"<img src=x" not in page.data
    log = platform.client.get(f"/api/v1/submissions/{submission}/logs/stderr",
                              headers={"Authorization": f"Bearer {token}"})
    assert log.headers["Content-Type"] == "text/plain; charset=utf-8"
    other = platform.participant("someone-else")
    assert platform.client.get(f"/api/v1/submissions/{submission}/logs/stderr",
                               headers={"Authorization": f"Bearer {other}"}).status_code == 404
