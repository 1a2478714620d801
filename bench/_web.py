"""What several benchmarks share: `podium web` in a process of its own on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_web(env: dict[str, str], work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`podium web` (as a user runs it) with these PODIUM_* settings, its log in work/web.log; returns the process and
    its base URL once /ping answers (the caller stops it)."""
    port = free_port()
    with (work / "web.log").open("w") as log:
        server = subprocess.Popen([str(REPO / ".venv" / "bin" / "podium"), "web", "--port", str(port)],
                                  env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{base}/ping", timeout=2)
            return server, base
        except requests.ConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError(f"podium web did not start: {(work / 'web.log').read_text()[-2000:]}") from None
            time.sleep(0.2)
