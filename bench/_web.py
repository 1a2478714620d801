"""What several benchmarks share: `podium web` in a process of its own on a free loopback port, and a WSGI timer."""

from __future__ import annotations

import cProfile
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

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


class Timed:
    """WSGI middleware: the time inside the app's call, the body included; the last one in `last`."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app
        self.last = 0.0
        self.profiler: cProfile.Profile | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        profiler = self.profiler
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        body = self.wsgi_app(environ, start_response)
        try:
            chunks = list(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            if profiler is not None:
                profiler.disable()
            self.last = time.perf_counter() - started
        return chunks
