"""The README's commands run as written (issue 13, item 8).

Every `curl` command of README.md's `sh` blocks is run, in order, with the system's curl in one
shell (so a variable one command sets, such as ETAG, is there for the next), against the
service started as `make run` starts it (`python -m app serve`) on a fresh SQLite database,
with `$TOKEN` an admin token. Only the origin changes: http://127.0.0.1:8000 becomes the test
server's. Each command must get a 2xx answer (304 where it sends If-None-Match, as the README
says), and every file the commands download must be the data, not an error.

Debian's curl 7.88 sends raw UTF-8 in a URL as it is, and uvicorn answers such a request 400
text/plain (which `curl -OJ` saves as the file): that is what this test keeps out of the
README.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session, create_engine

from app.auth.tokens import Role, create_token
from tests.conftest import wait_until_ready
from tests.helpers import child_env, free_port

README = Path(__file__).resolve().parent.parent / "README.md"
ORIGIN = "http://127.0.0.1:8000"
CURL = shutil.which("curl")
BASH = shutil.which("bash")
MARK = "@@readme"


def shell_commands(markdown: str) -> list[str]:
    """Each command of the ```sh blocks: continuation lines joined, comments left out."""
    commands: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.M | re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        for line in joined.splitlines():
            command = line.strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def curl_commands(markdown: str) -> list[str]:
    return [command for command in shell_commands(markdown) if re.search(r"\bcurl ", command)]


def test_the_readme_has_curl_commands_and_keeps_its_first_two() -> None:
    markdown = README.read_text(encoding="utf-8")
    commands = shell_commands(markdown)
    assert [command.split("#")[0].strip() for command in commands[:2]] == ["make run", "make test"]
    assert len(curl_commands(markdown)) >= 10


@dataclass
class Ran:
    command: str
    statuses: list[int]
    exit_code: int | None
    output: str


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`python -m app serve` on a fresh SQLite file; yield its origin and an admin token."""
    home = tmp_path / "server"
    home.mkdir()
    url = f"sqlite:///{home / 'plan_progress.db'}"
    port = free_port()
    env = child_env()
    env |= {"DATABASE_URL": url, "HOST": "127.0.0.1", "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    base = f"http://127.0.0.1:{port}"
    log = home / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            env=env,
            cwd=home,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_ready(process, base, log, 90)
            engine = create_engine(url)
            with Session(engine) as session:
                token = create_token(session, name="readme", role=Role.admin)
            engine.dispose()
            yield base, token
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def run_in_order(commands: list[str], base: str, token: str, cwd: Path) -> list[Ran]:
    """Run the commands in one bash, each curl reporting its HTTP status on stderr."""
    assert BASH is not None and CURL is not None
    lines = [
        # The system's curl, told to write each transfer's status where the test reads it.
        f"curl() {{ {CURL} --write-out '%{{stderr}}{MARK} status %{{http_code}}\\n' \"$@\"; }}",
    ]
    for index, command in enumerate(commands):
        lines += [
            f"printf '\\n{MARK} command {index}\\n'; printf '\\n{MARK} command {index}\\n' >&2",
            command.replace(ORIGIN, base),
            f"printf '\\n{MARK} exit %d\\n' $? >&2",
        ]
    env = {k: v for k, v in os.environ.items() if k != "TOKEN"} | {"TOKEN": token}
    result = subprocess.run(
        [BASH, "-c", "\n".join(lines)],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    stdout = result.stdout.decode("utf-8", "replace")
    stderr = result.stderr.decode("utf-8", "replace")
    outputs = re.split(rf"\n{MARK} command \d+\n", stdout)[1:]
    reports = re.split(rf"\n{MARK} command \d+\n", stderr)[1:]
    ran = []
    for index, command in enumerate(commands):
        report = reports[index] if index < len(reports) else ""
        exit_code = re.search(rf"{MARK} exit (\d+)", report)
        ran.append(
            Ran(
                command=command,
                statuses=[int(code) for code in re.findall(rf"{MARK} status (\d+)", report)],
                exit_code=int(exit_code.group(1)) if exit_code else None,
                output=(outputs[index] if index < len(outputs) else "")[:500] + report[:500],
            )
        )
    return ran


def expected(command: str, status: int) -> bool:
    if "If-None-Match" in command:
        return status == 304  # the README's point: the same again only if it changed
    return 200 <= status < 300


@pytest.mark.slow
@pytest.mark.skipif(CURL is None or BASH is None, reason="needs curl and bash")
def test_every_readme_curl_command_succeeds(server: tuple[str, str], tmp_path: Path) -> None:
    base, token = server
    commands = curl_commands(README.read_text(encoding="utf-8"))
    work = tmp_path / "work"
    work.mkdir()
    ran = run_in_order(commands, base, token, work)

    failures = [
        f"{run.command}\n  exit {run.exit_code}, statuses {run.statuses}\n  {run.output!r}"
        for run in ran
        if run.exit_code != 0
        or not run.statuses
        or not all(expected(run.command, status) for status in run.statuses)
    ]
    assert not failures, "README commands that failed:\n" + "\n".join(failures)

    # Every download is the data: as many files as commands that save one, none an error.
    saving = [run for run in ran if re.search(r"\s-(\w*O\w*|o (?!/dev/null))", run.command)]
    files = sorted(path for path in work.iterdir() if path.is_file())
    assert len(files) >= len(saving), (files, [run.command for run in saving])
    for path in files:
        head = path.read_bytes()[:200]
        assert head, f"{path.name} is empty"
        assert not head.lstrip(b"\xef\xbb\xbf").startswith((b'{"type"', b"Invalid")), (
            path.name,
            head,
        )
