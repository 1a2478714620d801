"""A small REST client for participants (used by `podium submit` and the demo)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

FINAL_STATES = ("succeeded", "failed", "cancelled")


class PodiumClientError(RuntimeError):
    pass


class PodiumClient:
    def __init__(self, base_url: str, token: str, timeout: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def submit(self, challenge: str, phase: str, archive: Path, comment: str = "") -> dict[str, Any]:
        with archive.open("rb") as body:  # streamed, not read into memory
            response = self.session.post(
                f"{self.base_url}/api/v1/challenges/{challenge}/phases/{phase}/submissions",
                params={"comment": comment}, data=body,
                headers={"Content-Type": "application/octet-stream"}, timeout=self.timeout)
        return self._json(response)

    def submission(self, submission_id: int) -> dict[str, Any]:
        return self._json(self.session.get(f"{self.base_url}/api/v1/submissions/{submission_id}",
                                           timeout=self.timeout))

    def cancel(self, submission_id: int) -> dict[str, Any]:
        return self._json(self.session.post(f"{self.base_url}/api/v1/submissions/{submission_id}/cancel",
                                            timeout=self.timeout))

    def leaderboard(self, challenge: str, phase: str) -> dict[str, Any]:
        return self._json(self.session.get(
            f"{self.base_url}/api/v1/challenges/{challenge}/phases/{phase}/leaderboard", timeout=self.timeout))

    def analysis(self, challenge: str, phase: str) -> dict[str, Any] | None:
        response = self.session.get(f"{self.base_url}/api/v1/challenges/{challenge}/phases/{phase}/analysis",
                                    timeout=self.timeout)
        return None if response.status_code == 404 else self._json(response)

    def create_team(self, challenge: str, name: str) -> dict[str, Any]:
        return self._json(self.session.post(f"{self.base_url}/api/v1/challenges/{challenge}/teams",
                                            json={"name": name}, timeout=self.timeout))

    def my_team(self, challenge: str) -> dict[str, Any] | None:
        response = self.session.get(f"{self.base_url}/api/v1/challenges/{challenge}/team", timeout=self.timeout)
        return None if response.status_code == 404 else self._json(response)

    def invite(self, team_id: int, username: str) -> dict[str, Any]:
        return self._json(self.session.post(f"{self.base_url}/api/v1/teams/{team_id}/invitations",
                                            json={"username": username}, timeout=self.timeout))

    def invitations(self) -> list[dict[str, Any]]:
        response = self.session.get(f"{self.base_url}/api/v1/invitations", timeout=self.timeout)
        if response.status_code >= 400:
            self._json(response)  # raises with the API's message
        found: list[dict[str, Any]] = response.json()
        return found

    def accept_invitation(self, invitation_id: int) -> dict[str, Any]:
        return self._json(self.session.post(f"{self.base_url}/api/v1/invitations/{invitation_id}/accept",
                                            timeout=self.timeout))

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

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:500]}
        if response.status_code >= 400:
            raise PodiumClientError(f"HTTP {response.status_code}: {body.get('error', body)}")
        if not isinstance(body, dict):
            raise PodiumClientError(f"HTTP {response.status_code}: expected a JSON object, got {str(body)[:200]}")
        return body
