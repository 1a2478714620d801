"""The participant's command line against a real site: waitress on a free loopback port in a thread, this test's
own database and storage, the example challenge applied, and the commands driven with click's CliRunner (HOME and
XDG_CONFIG_HOME inside tmp_path). Nothing is mocked: the uploads are real image archives, --wait follows a real
worker (burst mode) or a real cancel."""

from __future__ import annotations

import re
import socket
import stat
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result
from flask import Flask
from waitress.server import create_server

from app.cli import main
from app.cli.client import PodiumClient
from app.cli.config import config_path, read_config, write_config
from app.config import Settings
from app.resources import Resources
from tests.integration.helpers import CHALLENGE, PHASE, apply_example, drain_queue, make_user

TARGET = f"{CHALLENGE}/{PHASE}"
Podium = Callable[..., Result]


@pytest.fixture
def site(app: Flask, resources: Resources) -> Iterator[str]:
    apply_example(resources)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"

    def stop() -> None:  # in the server's own thread: its loop ends once nothing is left in its map
        server.close()
        for channel in list(server._map.values()):
            channel.close()

    try:
        server.trigger.pull_trigger(stop)
    except OSError:  # the loop's wake-up pipe is gone (seen once in CI after a burst worker ran in this process):
        stop()  # close from here; the daemon loop thread ends with its map empty
    thread.join(timeout=10)
    server.task_dispatcher.shutdown()


@pytest.fixture
def podium(tmp_path: Path) -> Podium:
    """`podium ARGS...` as a participant runs it: a home of its own, no PODIUM_URL/PODIUM_TOKEN set."""
    runner = CliRunner(env={"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
                            "PODIUM_URL": None, "PODIUM_TOKEN": None, "PODIUM_PUBLIC_URL": None})

    def invoke(*args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
        result = runner.invoke(main, list(args), input=input, env=env)
        assert "Traceback" not in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    return invoke


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def refused(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.output.count("Error: ") == 1, result.output
    return result.output


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def logged_in(podium: Podium, site: str, token: str) -> None:
    ok(podium("login", "--url", site, "--token", token))


def submission_id(output: str) -> int:
    found = re.search(r"^submission (\d+): queued$", output, re.MULTILINE)
    assert found, output
    return int(found.group(1))


# --- the config file ---------------------------------------------------------------------------------------------

def test_the_config_file_follows_xdg_and_keeps_any_token_private(tmp_path: Path) -> None:
    assert config_path({"XDG_CONFIG_HOME": "/cfg", "HOME": "/home/ada"}) == Path("/cfg/podium/config.toml")
    assert config_path({"HOME": "/home/ada"}) == Path("/home/ada/.config/podium/config.toml")
    assert config_path({"XDG_CONFIG_HOME": "relative", "HOME": "/home/ada"}) == \
        Path("/home/ada/.config/podium/config.toml")  # the spec ignores relative paths

    path = tmp_path / "podium" / "config.toml"
    odd = 'pod_"quoted"\\back\tslash\x7f\u00e9'
    write_config(path, "https://podium.example.org", odd)
    write_config(path, "https://podium.example.org", odd)  # replaced, not appended
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_config(path) == {"url": "https://podium.example.org", "token": odd}
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary file left


# --- login and logout --------------------------------------------------------------------------------------------

def test_login_checks_the_token_stores_it_privately_and_logout_removes_it(site: str, resources: Resources,
                                                                          podium: Podium, tmp_path: Path) -> None:
    path = tmp_path / "xdg" / "podium" / "config.toml"
    output = refused(podium("login", "--url", site, "--token", "pod_wrong"))
    assert f"{site} refused the token: send a valid API token" in output
    assert "Nothing was stored." in output
    assert not path.exists()

    token = make_user(resources, "ada")
    output = ok(podium("login", "--url", site + "/", input=f"{token}\n"))  # asked for, without echo
    assert token not in output
    assert f"logged in to {site}" in output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text()) == {"url": site, "token": token}

    output = ok(podium("status"))
    assert f"site:  {site} (from {path})" in output
    assert "the site accepts the token" in output

    assert "logged out" in ok(podium("logout"))
    assert not path.exists()
    assert "not logged in" in ok(podium("logout"))
    assert "run `podium login --url" in refused(podium("status", "1"))

    # Without XDG_CONFIG_HOME the file is ~/.config/podium/config.toml.
    ok(podium("login", "--url", site, "--token", token, env={"XDG_CONFIG_HOME": None}))
    home_file = tmp_path / "home" / ".config" / "podium" / "config.toml"
    assert stat.S_IMODE(home_file.stat().st_mode) == 0o600
    assert "the site accepts the token" in ok(podium("status", env={"XDG_CONFIG_HOME": None}))


def test_where_the_site_and_the_token_come_from(site: str, resources: Resources, podium: Podium) -> None:
    token = make_user(resources, "bea")
    assert "no API token for http://127.0.0.1:5000: run `podium login --url SITE`" in refused(podium("status", TARGET))
    logged_in(podium, site, token)

    # PODIUM_TOKEN comes before the stored token, --token before PODIUM_TOKEN; a refusal is the API's message.
    output = refused(podium("status", TARGET, env={"PODIUM_TOKEN": "pod_revoked"}))
    assert "Error: send a valid API token" in output and "Run `podium login`" in output
    ok(podium("status", TARGET, "--token", token, env={"PODIUM_TOKEN": "pod_revoked"}))

    # The stored token goes to its own site only: another address needs a token of its own.
    other = f"http://127.0.0.1:{closed_port()}"
    output = refused(podium("status", TARGET, "--url", other))
    assert f"no API token for {other}: run `podium login --url {other}`" in output
    output = refused(podium("status", TARGET, env={"PODIUM_URL": other}))
    assert f"no API token for {other}" in output
    assert "not a site address" in refused(podium("status", "1", "--url", "podium.example.org"))


def test_an_unreachable_site_is_named_without_a_traceback(podium: Podium, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    archive = tmp_path / "algorithm.tar"
    archive.write_bytes(b"\0" * 1024)
    for args in (("login", "--url", nowhere, "--token", "pod_x"),
                 ("status", "1", "--url", nowhere, "--token", "pod_x"),
                 ("status", TARGET, "--url", nowhere, "--token", "pod_x"),
                 ("submit", TARGET, str(archive), "--url", nowhere, "--token", "pod_x"),
                 ("logs", "1", "--url", nowhere, "--token", "pod_x"),
                 ("cancel", "1", "--url", nowhere, "--token", "pod_x"),
                 ("leaderboard", TARGET, "--url", nowhere)):
        output = refused(podium(*args))
        assert f"cannot reach {nowhere}: Connection refused" in output, args
    assert not (tmp_path / "xdg" / "podium" / "config.toml").exists()


# --- submit, status, logs, leaderboard ---------------------------------------------------------------------------

@pytest.mark.docker
def test_submit_status_logs_and_leaderboard(site: str, resources: Resources, podium: Podium,
                                            crashing_archive: Path) -> None:
    token = make_user(resources, "cleo")
    logged_in(podium, site, token)

    output = ok(podium("submit", TARGET, str(crashing_archive), "--comment", "from the command line"))
    first = submission_id(output)
    # The older form, with the token on the command line, still works.
    second = submission_id(ok(podium("submit", "--challenge", CHALLENGE, "--phase", PHASE, "--token", token,
                                     str(crashing_archive))))
    assert "usage" in podium("submit", str(crashing_archive)).output.lower()

    output = ok(podium("status", str(first)))
    assert f"submission {first}: queued" in output
    assert f"phase:     {TARGET}" in output and "comment:   from the command line" in output

    output = ok(podium("status", TARGET))
    rows = output.splitlines()[3:5]
    assert [row.split()[0] for row in rows] == [str(second), str(first)], output  # newest first
    assert all(" cleo  queued " in row for row in rows) and rows[1].endswith("from the command line"), output
    assert "limits (for you): 18 of 20 submissions left now (2 used in the last 24 hours); the next place " \
           "frees at" in output

    # The example phase shows participants the failure message only: no container logs.
    for stream in ("stdout", "stderr"):
        output = refused(podium("logs", str(first), "--stream", stream))
        assert f"this phase does not show participants their container's {stream}" in output
        assert f"`podium status {first}` shows its state and failure message" in output
    assert "no submission" in refused(podium("status", "999999"))

    # The leaderboard through the API is the one the server's database gives.
    through_api = ok(podium("leaderboard", TARGET))
    assert through_api.startswith(f"{CHALLENGE} / {PHASE} (sorted by ")
    assert through_api == ok(podium("leaderboard", CHALLENGE, PHASE))
    assert "--url and --token go with CHALLENGE/PHASE" in podium("leaderboard", CHALLENGE, PHASE, "--url", site).output

    assert f"submission {second}: cancelled" in ok(podium("cancel", str(second)))
    assert "already" in refused(podium("cancel", str(second))).lower()
    ok(podium("cancel", str(first)))


@pytest.mark.docker
def test_an_upload_is_streamed_in_chunks(site: str, resources: Resources, crashing_archive: Path) -> None:
    client = PodiumClient(site, make_user(resources, "dora"))
    sent: list[int] = []
    size = crashing_archive.stat().st_size
    submission = client.submit(CHALLENGE, PHASE, crashing_archive, progress=sent.append, part_bytes=size // 3 + 1)
    assert submission["state"] == "queued"
    assert sum(sent) == size
    assert len(sent) > 1 and max(sent) <= 1024**2  # read piece by piece, never whole
    client.cancel(submission["id"])


@pytest.mark.docker
def test_an_upload_resumes_where_the_site_stands(site: str, resources: Resources, crashing_archive: Path) -> None:
    """The client thinks nothing arrived, the site has the first part (an answer lost on the way): it asks, goes on
    from there, and the progress bar counts each byte once."""
    client = PodiumClient(site, make_user(resources, "erin"))
    data = crashing_archive.read_bytes()
    upload = client._json(client._request("POST", f"/challenges/{CHALLENGE}/phases/{PHASE}/uploads",
                                          json={"purpose": "submission", "size": len(data)}))
    half = len(data) // 2
    client._json(client._request("PUT", f"/uploads/{upload['token']}", params={"offset": 0}, data=data[:half]))
    sent: list[int] = []
    client.send_parts({**upload, "part_bytes": half + 1}, crashing_archive, sent.append)
    status = client._json(client._request("GET", f"/uploads/{upload['token']}"))
    assert status["complete"] and sum(sent) == len(data)
    submission = client._json(client._request("POST", f"/uploads/{upload['token']}/submission", json={}))
    assert submission["state"] == "queued"
    client.cancel(submission["id"])


# --- submit --wait -----------------------------------------------------------------------------------------------

def _in_background(call: Callable[[], Result]) -> Any:
    return ThreadPoolExecutor(max_workers=1).submit(call)


def _first_submission(site: str, token: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = requests.get(f"{site}/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/submissions",
                             headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        if found and found[0]["state"] == "queued":
            return dict(found[0])
        time.sleep(0.2)
    pytest.fail("the upload was not queued in time")


@pytest.mark.docker
def test_wait_follows_a_cancelled_submission_and_exits_1(site: str, resources: Resources, podium: Podium,
                                                         crashing_archive: Path) -> None:
    token = make_user(resources, "emma")
    logged_in(podium, site, token)
    waiting = _in_background(lambda: podium("submit", TARGET, str(crashing_archive), "--wait"))
    queued = _first_submission(site, token)
    PodiumClient(site, token).cancel(queued["id"])
    result = waiting.result(timeout=60)
    output = result.output
    assert result.exit_code == 1, output
    assert f"submission {queued['id']}: queued\n" in output
    assert f"submission {queued['id']}: cancelled\n" in output


@pytest.mark.docker
def test_wait_follows_a_run_to_its_failure_message(site: str, resources: Resources, settings: Settings,
                                                   podium: Podium, crashing_archive: Path) -> None:
    token = make_user(resources, "fay")
    logged_in(podium, site, token)
    waiting = _in_background(lambda: podium("submit", TARGET, str(crashing_archive), "--wait"))
    queued = _first_submission(site, token)
    drain_queue(settings)  # a real worker, in this (the main) thread: it runs the container, which exits 3
    result = waiting.result(timeout=120)
    assert result.exit_code == 1, result.output
    assert f"submission {queued['id']}: failed\n" in result.output
    assert "failure: " in result.stderr and "exit" in result.stderr, result.stderr


@pytest.mark.docker
def test_wait_follows_a_run_to_its_scores(site: str, resources: Resources, settings: Settings, podium: Podium,
                                          baseline_archives) -> None:  # type: ignore[no-untyped-def]
    token = make_user(resources, "gina")
    logged_in(podium, site, token)
    archive = baseline_archives["logistic-regression"].archive
    waiting = _in_background(lambda: podium("submit", TARGET, str(archive), "--wait"))
    queued = _first_submission(site, token)
    drain_queue(settings)
    result = waiting.result(timeout=120)
    assert result.exit_code == 0, result.output
    assert f"submission {queued['id']}: succeeded\n" in result.output
    assert re.search(r"^  auroc +0\.9\d{3} \[", result.output, re.MULTILINE), result.output

    output = ok(podium("status", str(queued["id"])))
    assert "run:       exit code 0" in output and "auroc" in output
    assert "gina" in ok(podium("leaderboard", TARGET))
