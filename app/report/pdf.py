"""A report printed to PDF by headless Chromium (`--print-to-pdf`), in a worker thread.

Chromium is a program of the system, not a Python package: it is looked for when a PDF is
asked for (the CHROMIUM setting, else on PATH), and its absence is a 503 saying so. Each print
gets a directory of its own (page, profile, output) removed afterwards; it runs in its own
process group, so a print that overruns PDF_TIMEOUT is killed with every process it started.
At most two print at once: each Chromium takes a few hundred MB.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import anyio.to_thread

from app.errors import ServiceUnavailable

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# No sandbox (a container's root has none to give), nothing fetched from the network, no
# header or footer added to the pages (the document has its own).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-pdf-header-footer",
)
_PRINTERS = threading.BoundedSemaphore(2)  # a thread semaphore: apps run on many loops


class PdfUnavailable(ServiceUnavailable):
    """No Chromium to print with, or it failed or overran its time."""


def find_chromium(configured: str) -> str:
    """The Chromium to run: the configured one, else the first found on PATH."""
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise PdfUnavailable(
                "the PDF cannot be made: the CHROMIUM setting names no executable program;"
                " the report itself is served as HTML"
            )
        return found
    for name in CANDIDATES:
        if (found := shutil.which(name)) is not None:
            return found
    raise PdfUnavailable(
        "the PDF cannot be made: no Chromium is installed on the server (set CHROMIUM to its"
        " path); the report itself is served as HTML"
    )


async def print_pdf(html: str, *, chromium: str, timeout: float) -> bytes:
    """The PDF Chromium prints of the HTML page, made off the event loop."""
    return await anyio.to_thread.run_sync(_print, html, chromium, timeout)


def _print(html: str, chromium: str, timeout: float) -> bytes:
    with _PRINTERS, tempfile.TemporaryDirectory(prefix="report-pdf-") as folder:
        work = Path(folder)
        page, output = work / "report.html", work / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [
            chromium,
            *FLAGS,
            f"--user-data-dir={work / 'profile'}",
            f"--print-to-pdf={output}",
            page.as_uri(),
        ]
        with subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: killed whole on a timeout
        ) as process:
            try:
                _, errors = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise PdfUnavailable(
                    f"the PDF cannot be made: Chromium took more than {timeout:g} seconds"
                ) from None
        pdf = output.read_bytes() if output.exists() else b""
        if process.returncode != 0 or not pdf.startswith(b"%PDF"):
            last = errors.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise PdfUnavailable(
                f"the PDF cannot be made: Chromium exited with {process.returncode}"
                f" without a PDF ({last[0][:200]})"
            )
        return pdf
