"""What the two Celery tests share: free ports, the documented Celery settings, the processes they start
(each in its own session, stopped as groups). Their fixtures are in conftest.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from shuyun import settings

CELERY_ENV = settings.PROJECT_ROOT / "infra" / "airflow" / "celery.env"


def free_port(start: int | None = None) -> int:
    candidates = range(start, start + 200) if start else [0]
    for candidate in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port from {start}")


def celery_env_file() -> dict[str, str]:
    values = {}
    for line in CELERY_ENV.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


class Processes:
    """Processes started by the test, each in its own session; stop() ends exactly those groups."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        with open(self.logs / f"{name}.out", "ab") as out:
            proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=str(self.logs))
        self.procs[name] = proc
        return proc

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}
        if dead:
            pytest.fail(f"processes exited early: {dead}\n{self.tails(dead)}")

    def tails(self, names=None, chars: int = 1500) -> str:
        parts = []
        for name in names or self.procs:
            path = self.logs / f"{name}.out"
            text = path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"
            parts.append(f"--- {name}\n{text}")
        return "\n".join(parts)

    def stop(self, timeout: float = 20) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)


def wait_for(what: str, check, timeout: float, procs: Processes, poll: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        procs.check_alive()
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{procs.tails()}")
