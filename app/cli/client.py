"""A small REST client for participants (the participant's commands and the demo).

Every failure is a PodiumClientError whose message is the API's own ({"error": ...}), or says that the site
could not be reached; callers never see a requests exception.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import requests

FINAL_STATES = ("succeeded", "failed", "cancelled")
LOG_STREAMS = ("stdout", "stderr")
CONNECT_TIMEOUT = 15.0
PART_RETRIES = 5  # a part that cannot be sent is tried again this many times (with backoff)


class PodiumClientError(RuntimeError):
    """What went wrong, in the API's words; `status` is the HTTP status (None: no answer), and `submission_id`
    the failed submission a refused upload was kept as."""

    def __init__(self, message: str, status: int | None = None, submission_id: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.submission_id = submission_id


class _ReportingReader:
    """An open file that requests streams as the request body (Content-Length from its size), telling
    `report` how many bytes each read returned: the file is never read into memory."""

    def __init__(self, file: IO[bytes], size: int, report: Callable[[int], None]) -> None:
        self._file, self._size, self._report = file, size, report

    def __len__(self) -> int:
        return self._size

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        if chunk:
            self._report(len(chunk))
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(64 * 1024):
            yield chunk


def _slug(value: str) -> str:
    return quote(value, safe="")


class PodiumClient:
    def __init__(self, base_url: str, token: str | None, timeout: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    # --- submissions ---------------------------------------------------------------------------------------

    def submit(self, challenge: str, phase: str, archive: Path, comment: str = "",
               progress: Callable[[int], None] | None = None, part_bytes: int | None = None) -> dict[str, Any]:
        """Upload an image archive in parts (docs/uploads.md), streamed from disk, then submit it.

        The site checks the size and whether you may submit before a byte is sent; a lost connection resumes
        from what arrived. `progress` hears how many new bytes each read sent; `part_bytes` overrides the site's
        part size (smaller only)."""
        upload = self._json(self._request(
            "POST", f"/challenges/{_slug(challenge)}/phases/{_slug(phase)}/uploads",
            json={"purpose": "submission", "filename": archive.name, "size": archive.stat().st_size}))
        if part_bytes is not None:
            upload["part_bytes"] = min(part_bytes, upload["part_bytes"])
        self.send_parts(upload, archive, progress)
        return self._json(self._request("POST", f"/uploads/{_slug(upload['token'])}/submission",
                                        json={"comment": comment}))

    def send_parts(self, upload: dict[str, Any], path: Path, progress: Callable[[int], None] | None = None) -> None:
        """Send `path` from where `upload` stands until it is complete; after a lost connection or a part out of
        place (409), ask the site where the upload stands and go on from there."""
        token, total, size = _slug(upload["token"]), int(upload["total_bytes"]), int(upload["part_bytes"])
        offset, failures = int(upload["received_bytes"]), 0
        reported = sending_at = offset

        def report(count: int) -> None:  # only bytes past the furthest point reported: a resent part counts once
            nonlocal reported, sending_at
            sending_at += count
            if progress is not None and sending_at > reported:
                progress(sending_at - reported)
                reported = sending_at

        with path.open("rb") as file:
            while offset < total:
                file.seek(offset)
                part = io.BytesIO(file.read(min(size, total - offset)))
                sending_at = offset
                try:
                    response = self._request("PUT", f"/uploads/{token}", params={"offset": offset},
                                             data=_ReportingReader(part, len(part.getbuffer()), report),
                                             headers={"Content-Type": "application/octet-stream"})
                    state = self._json(response)
                except PodiumClientError as exc:
                    lost = exc.status is None or exc.status >= 500  # no answer, or the site's own trouble
                    failures += 1
                    if not (lost or exc.status == 409) or failures > PART_RETRIES:
                        raise
                    if lost:
                        time.sleep(min(30.0, 2.0 ** failures))
                    offset = int(self._json(self._request("GET", f"/uploads/{token}"))["received_bytes"])
                    continue
                offset, failures = int(state["received_bytes"]), 0

    def submission(self, submission_id: int) -> dict[str, Any]:
        return self._json(self._request("GET", f"/submissions/{submission_id}"))

    def submissions(self, challenge: str, phase: str) -> list[dict[str, Any]]:
        """Your (and your team's) submissions to a phase, newest first."""
        return self._json_list(self._request("GET", f"/challenges/{_slug(challenge)}/phases/{_slug(phase)}"
                                                    "/submissions"))

    def limits(self, challenge: str, phase: str) -> dict[str, Any]:
        return self._json(self._request("GET", f"/challenges/{_slug(challenge)}/phases/{_slug(phase)}/limits"))

    def log(self, submission_id: int, stream: str) -> str:
        """A submission's container log, where the phase lets the caller read it."""
        response = self._request("GET", f"/submissions/{submission_id}/logs/{_slug(stream)}")
        if response.status_code >= 400:
            self._json(response)  # raises with the API's message
        return response.content.decode("utf-8", errors="replace")

    def cancel(self, submission_id: int) -> dict[str, Any]:
        return self._json(self._request("POST", f"/submissions/{submission_id}/cancel"))

    def follow(self, submission_id: int, poll: float = 1.0, max_poll: float = 5.0) -> Iterator[dict[str, Any]]:
        """The submission each time its state changes (first as it is now), until a final state."""
        seen, interval = None, poll
        while True:
            submission = self.submission(submission_id)
            if submission["state"] != seen:
                seen, interval = submission["state"], poll
                yield submission
            if submission["state"] in FINAL_STATES:
                return
            time.sleep(interval)
            interval = min(max_poll, interval * 1.25)

    def wait(self, submission_id: int, timeout: float = 3600.0, poll: float = 1.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            submission = self.submission(submission_id)
            if submission["state"] in FINAL_STATES:
                return submission
            if time.monotonic() > deadline:
                raise PodiumClientError(f"submission {submission_id} is still {submission['state']} "
                                        f"after {timeout:.0f} s")
            time.sleep(poll)

    # --- challenges, leaderboards and analyses ----------------------------------------------------------------

    def challenge(self, challenge: str) -> dict[str, Any]:
        return self._json(self._request("GET", f"/challenges/{_slug(challenge)}"))

    def leaderboard(self, challenge: str, phase: str, sort: str | None = None, *,
                    version: int | None = None) -> dict[str, Any]:
        params = {name: value for name, value in (("sort", sort), ("version", version)) if value is not None}
        return self._json(self._request("GET", f"/challenges/{_slug(challenge)}/phases/{_slug(phase)}/leaderboard",
                                        params=params or None))

    def analysis(self, challenge: str, phase: str) -> dict[str, Any] | None:
        response = self._request("GET", f"/challenges/{_slug(challenge)}/phases/{_slug(phase)}/analysis")
        return None if response.status_code == 404 else self._json(response)

    # --- tokens and teams -------------------------------------------------------------------------------------

    def tokens(self) -> list[dict[str, Any]]:
        """Your API tokens; a 401 here means the token this client sends is not valid."""
        return self._json_list(self._request("GET", "/tokens"))

    def create_team(self, challenge: str, name: str) -> dict[str, Any]:
        return self._json(self._request("POST", f"/challenges/{_slug(challenge)}/teams", json={"name": name}))

    def my_team(self, challenge: str) -> dict[str, Any] | None:
        response = self._request("GET", f"/challenges/{_slug(challenge)}/team")
        return None if response.status_code == 404 else self._json(response)

    def invite(self, team_id: int, username: str) -> dict[str, Any]:
        return self._json(self._request("POST", f"/teams/{team_id}/invitations", json={"username": username}))

    def invitations(self) -> list[dict[str, Any]]:
        return self._json_list(self._request("GET", "/invitations"))

    def accept_invitation(self, invitation_id: int) -> dict[str, Any]:
        return self._json(self._request("POST", f"/invitations/{invitation_id}/accept"))

    # --- transport --------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}/api/v1{path}"
        try:
            return self.session.request(method, url, timeout=(CONNECT_TIMEOUT, self.timeout), **kwargs)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as exc:
            raise PodiumClientError(f"{self.base_url!r} is not a site address ({exc})") from None
        except requests.Timeout:
            raise PodiumClientError(f"{self.base_url} did not answer in time; try again later") from None
        except requests.ConnectionError as exc:
            raise PodiumClientError(f"cannot reach {self.base_url}: {_reason(exc)}; check the address and your "
                                    "connection (is the site up?)") from None
        except requests.RequestException as exc:
            raise PodiumClientError(f"talking to {self.base_url} failed: {exc}") from None

    def _body(self, response: requests.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                submission_id = body.get("submission_id")
                raise PodiumClientError(body["error"], response.status_code,
                                        submission_id if isinstance(submission_id, int) else None)
            raise PodiumClientError(f"{self.base_url} answered HTTP {response.status_code} "
                                    f"({response.reason}) and no Podium error: is it a Podium site?",
                                    response.status_code)
        if body is None:
            raise PodiumClientError(f"{self.base_url} answered HTTP {response.status_code} without JSON: "
                                    "is it a Podium site?", response.status_code)
        return body

    def _json(self, response: requests.Response) -> dict[str, Any]:
        body = self._body(response)
        if not isinstance(body, dict):
            raise PodiumClientError(f"HTTP {response.status_code}: expected a JSON object, got {str(body)[:200]}",
                                    response.status_code)
        return body

    def _json_list(self, response: requests.Response) -> list[dict[str, Any]]:
        body = self._body(response)
        if not isinstance(body, list):
            raise PodiumClientError(f"HTTP {response.status_code}: expected a JSON list, got {str(body)[:200]}",
                                    response.status_code)
        return body


def _reason(exc: requests.ConnectionError) -> str:
    """The innermost cause in a few words ('Connection refused', 'Name or service not known')."""
    cause: BaseException = exc
    for _ in range(10):  # a chain is short; never follow a cycle
        inner = cause.__cause__ or cause.__context__
        if inner is None:
            break
        cause = inner
    text = str(cause)
    return text.split("] ", 1)[-1] if "] " in text else text or type(cause).__name__
