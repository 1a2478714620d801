"""The decision report as PDF: Debian's Chromium prints the report's HTML (docs/report.md).

Bounded, so the web process may call it per request: Chromium runs in a child process (`python -m
app.report_pdf`, the HTML on its stdin, the PDF on its stdout) that is killed after `timeout_s`; at most
`MAX_CONCURRENT` renders run at once in one process (another request is told to try again, 503); the page is
loaded with JavaScript off and every network request refused (the report inlines its figures and styles), so
the HTML alone decides what is printed. The CLI (`podium report render`) uses the same function.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from app.errors import ServiceError

CHROMIUM = os.environ.get("PODIUM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
MAX_CONCURRENT = 2
TIMEOUT_S = 60.0
_slots = threading.BoundedSemaphore(MAX_CONCURRENT)


class RenderUnavailable(ServiceError):
    status_code = 503


def render_pdf(html: str, *, timeout_s: float = TIMEOUT_S) -> bytes:
    """The PDF Chromium prints from `html` (A4, as the report's print stylesheet lays it out)."""
    if not Path(CHROMIUM).exists():
        raise RenderUnavailable(f"this server has no Chromium at {CHROMIUM} to print the report (scripts/"
                                "ensure-browser.sh installs it); print the HTML report from your browser instead")
    if importlib.util.find_spec("playwright") is None:
        raise RenderUnavailable("this server lacks the playwright package that drives Chromium (pip install "
                                "playwright; it never downloads a browser here); print the HTML report from your "
                                "browser instead")
    if not _slots.acquire(blocking=False):
        raise RenderUnavailable("the server is printing other reports right now; try again in a minute")
    try:
        # A process group of its own, so that a timeout stops Chromium and Playwright's driver with it.
        child = subprocess.Popen([sys.executable, "-m", "app.report_pdf"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            stdout, stderr = child.communicate(html.encode("utf-8"), timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise RenderUnavailable(f"printing the report took longer than {timeout_s:g} s and was stopped; try "
                                    "again, or print the HTML report from your browser") from None
    finally:
        _slots.release()
    if child.returncode != 0 or not stdout.startswith(b"%PDF"):
        tail = stderr.decode("utf-8", errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise RenderUnavailable(f"Chromium could not print the report ({tail[0][:300]}); print the HTML report "
                                "from your browser instead")
    return stdout


def _print_stdin_to_stdout() -> None:
    from playwright.sync_api import sync_playwright

    html = sys.stdin.buffer.read().decode("utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(java_script_enabled=False)
            page.route("**/*", lambda route: route.abort())  # nothing outside the HTML itself is fetched
            page.set_content(html, wait_until="load")
            pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True,
                           margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
        finally:
            browser.close()
    sys.stdout.buffer.write(pdf)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _print_stdin_to_stdout()
