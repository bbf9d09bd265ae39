"""Superset as a local service: its own environment, its metadata in PostgreSQL, started and stopped by us.

apache-superset 6.1 pins SQLAlchemy 1.4, which cannot share `.venv` with Airflow 3.3, so it lives in
`<project>/.venv-superset`, synced by uv from `infra/superset/uv.lock`. Everything here runs Superset as
a subprocess of that environment; the main environment never imports it.

Environment variables (all optional):
  SHUYUN_SUPERSET_PORT     localhost port (default 8088; a busy port that is not ours → the next free one)
  SHUYUN_SUPERSET_HOME     state folder: pid, log, address, Superset's DATA_DIR (default $SHUYUN_HOME/superset)
  SHUYUN_SUPERSET_DB_URL   metadata database (default: database `superset` on the warehouse server)
  SHUYUN_SUPERSET_VENV     the environment (default <project>/.venv-superset)
  SHUYUN_SUPERSET_ADMIN_PASSWORD  else a generated secret in $SHUYUN_HOME/secrets
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg

from shuyun import settings
from shuyun import warehouse as wh

log = logging.getLogger(__name__)

INFRA = settings.PROJECT_ROOT / "infra" / "superset"
CONFIG_FILE = INFRA / "superset_config.py"
LOCK_FILE = INFRA / "uv.lock"
UV = settings.PROJECT_ROOT / ".tools" / "bin" / "uv"
DEFAULT_PORT = 8088
ADMIN = "admin"


class SupersetError(RuntimeError):
    """A Superset problem in plain words (the CLI prints it without a traceback)."""


@dataclass(frozen=True)
class Instance:
    """Where one Superset lives: its state folder, environment, port and metadata database."""

    state_dir: Path
    venv: Path
    port: int
    metadata: wh.Address

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "superset.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "superset.log"

    @property
    def address_file(self) -> Path:
        return self.state_dir / "address.json"

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name


def instance() -> Instance:
    """The Superset the environment describes (see the module docstring)."""
    state = Path(os.environ.get("SHUYUN_SUPERSET_HOME", settings.home() / "superset")).resolve()
    venv = Path(os.environ.get("SHUYUN_SUPERSET_VENV", settings.PROJECT_ROOT / ".venv-superset")).resolve()
    port = int(os.environ.get("SHUYUN_SUPERSET_PORT", DEFAULT_PORT))
    return Instance(state_dir=state, venv=venv, port=port, metadata=wh.metadata_address("superset"))


def admin_password() -> str:
    return settings.secret("superset_admin.password", "SHUYUN_SUPERSET_ADMIN_PASSWORD")


# ---------------------------------------------------------------- the environment

def _lock_digest() -> str:
    return hashlib.sha256(LOCK_FILE.read_bytes() + (INFRA / "pyproject.toml").read_bytes()).hexdigest()


def ensure_env(inst: Instance | None = None) -> Path:
    """Create or re-sync `.venv-superset` from the lock when it is missing or the lock changed. Returns it."""
    inst = inst or instance()
    stamp = inst.venv / ".shuyun-lock-sha256"
    digest = _lock_digest()
    if inst.bin("superset").exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return inst.venv
    if not UV.exists():
        raise SupersetError(f"uv not found at {UV}: it installs Superset's environment")
    log.info("syncing %s from %s", inst.venv, LOCK_FILE)
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(inst.venv)}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [str(UV), "sync", "--project", str(INFRA), "--frozen", "--no-progress"],
        env=env, capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise SupersetError(f"installing Superset's environment failed:\n{done.stderr[-3000:]}")
    stamp.write_text(digest)
    return inst.venv


# ---------------------------------------------------------------- running superset commands

def superset_env(inst: Instance) -> dict[str, str]:
    """The environment every Superset process of this instance gets (secrets included, never on disk)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(
        SUPERSET_CONFIG_PATH=str(CONFIG_FILE),
        SUPERSET_SECRET_KEY=settings.secret("superset.secret_key", "SHUYUN_SUPERSET_SECRET_KEY"),
        SHUYUN_SUPERSET_METADATA_URL=inst.metadata.url("postgresql+psycopg2"),
        SUPERSET_HOME=str(inst.state_dir / "home"),
        FLASK_APP="superset.app:create_app()",
        PATH=f"{inst.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    return env


def run_superset(inst: Instance, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    """Run `superset <args>` in Superset's environment; on failure raise with the end of its output."""
    done = subprocess.run(
        [str(inst.bin("superset")), *args], env=superset_env(inst), capture_output=True, text=True, timeout=timeout
    )
    if check and done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise SupersetError(f"`superset {' '.join(args[:1])}` failed (exit {done.returncode}):\n{tail}")
    return done


def run_python(inst: Instance, script: Path, payload: dict, timeout: float = 600) -> dict:
    """Run a script with Superset's Python (app context inside); JSON in on stdin, JSON out on the last line."""
    done = subprocess.run(
        [str(inst.bin("python")), str(script)], input=json.dumps(payload), env=superset_env(inst),
        capture_output=True, text=True, timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SupersetError(f"{script.name} failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")
    return json.loads(lines[-1])


# ---------------------------------------------------------------- metadata database

def _create_metadata_db(inst: Instance) -> None:
    """The metadata database exists (created beside the warehouse when missing)."""
    maintenance = psycopg.conninfo.make_conninfo(inst.metadata.conninfo(), dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (inst.metadata.dbname,)).fetchone():
            conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(inst.metadata.dbname)))


def _initialized(inst: Instance) -> bool:
    """Superset's schema is at the head this environment knows, and the admin user exists."""
    marker = inst.state_dir / "initialized"
    try:
        with psycopg.connect(inst.metadata.conninfo(), connect_timeout=5) as conn:
            has_admin = conn.execute("select 1 from ab_user where username = %s", (ADMIN,)).fetchone()
            head = conn.execute("select version_num from alembic_version").fetchone()
    except psycopg.Error:
        return False
    expected = f"{_lock_digest()} {inst.metadata.dbname} {head[0] if head else ''}"
    return bool(has_admin) and marker.exists() and marker.read_text().strip() == expected


def initialize(inst: Instance) -> None:
    """`superset db upgrade`, `superset init` and the admin user, once per metadata database and lock."""
    _create_metadata_db(inst)
    if _initialized(inst):
        return
    t0 = time.monotonic()
    run_superset(inst, "db", "upgrade")
    run_superset(inst, "init")
    with psycopg.connect(inst.metadata.conninfo()) as conn:
        exists = conn.execute("select 1 from ab_user where username = %s", (ADMIN,)).fetchone()
    if exists:
        run_superset(inst, "fab", "reset-password", "--username", ADMIN, "--password", admin_password())
    else:
        run_superset(
            inst, "fab", "create-admin", "--username", ADMIN, "--firstname", "书云", "--lastname", "管理员",
            "--email", "admin@shuyun.local", "--password", admin_password(),
        )
    with psycopg.connect(inst.metadata.conninfo()) as conn:
        head = conn.execute("select version_num from alembic_version").fetchone()[0]
    (inst.state_dir / "initialized").write_text(f"{_lock_digest()} {inst.metadata.dbname} {head}")
    log.info("superset metadata initialized in %.1f s", time.monotonic() - t0)


# ---------------------------------------------------------------- process lifecycle

def _pid(inst: Instance) -> int | None:
    try:
        pid = int(inst.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def _recorded_url(inst: Instance) -> str:
    try:
        return json.loads(inst.address_file.read_text())["url"]
    except (FileNotFoundError, ValueError, KeyError):
        return inst.url


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as resp:
            return resp.status == 200 and resp.read().strip() == b"OK"
    except (urllib.error.URLError, OSError):
        return False


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _choose_port(preferred: int) -> int:
    for port in range(preferred, preferred + 50):
        if _port_free(port):
            return port
    raise SupersetError(f"no free localhost port in {preferred}–{preferred + 49}")


@dataclass(frozen=True)
class Status:
    running: bool
    url: str
    pid: int | None
    healthy: bool

    def __str__(self) -> str:
        if not self.running:
            return "superset: stopped"
        return f"superset: running at {self.url} (pid {self.pid}, {'healthy' if self.healthy else 'NOT healthy'})"


def status(inst: Instance | None = None) -> Status:
    inst = inst or instance()
    pid = _pid(inst)
    url = _recorded_url(inst)
    return Status(running=pid is not None, url=url, pid=pid, healthy=pid is not None and healthy(url))


def start(inst: Instance | None = None, wait: float = 180.0) -> Status:
    """Start Superset in the background (gunicorn on localhost) and wait until /health answers.

    Safe to call when it is already running: then it only waits for health and returns the status.
    """
    inst = inst or instance()
    current = status(inst)
    if current.running:
        _wait_healthy(inst, current.url, wait)
        return status(inst)
    inst.state_dir.mkdir(parents=True, exist_ok=True)
    (inst.state_dir / "home").mkdir(exist_ok=True)
    if wh.is_embedded() and not wh.running():
        wh.up()
    ensure_env(inst)
    initialize(inst)
    port = _choose_port(inst.port)
    url = f"http://127.0.0.1:{port}"
    logf = open(inst.log_file, "ab")  # noqa: SIM115 - handed to the child, which outlives us
    proc = subprocess.Popen(
        [
            str(inst.bin("gunicorn")), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread",
            "--threads", "8", "--timeout", "120", "--limit-request-line", "0", "--limit-request-field_size", "0",
            "superset.app:create_app()",
        ],
        env=superset_env(inst), stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=inst.state_dir,
    )
    logf.close()
    inst.pid_file.write_text(str(proc.pid))
    inst.address_file.write_text(json.dumps({"url": url, "port": port, "pid": proc.pid}))
    _wait_healthy(inst, url, wait, proc)
    return status(inst)


def _wait_healthy(inst: Instance, url: str, wait: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if healthy(url):
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.5)
    tail = inst.log_file.read_text(errors="replace")[-3000:] if inst.log_file.exists() else ""
    raise SupersetError(f"Superset did not answer {url}/health within {wait:.0f} s; its log ends with:\n{tail}")


def stop(inst: Instance | None = None, wait: float = 30.0) -> bool:
    """Stop our Superset (the gunicorn master and its workers). Returns False when it was not running."""
    inst = inst or instance()
    pid = _pid(inst)
    if pid is None:
        inst.pid_file.unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _pid(inst) is not None:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child (tests)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    if _pid(inst) is not None:
        os.killpg(pid, signal.SIGKILL)
    inst.pid_file.unlink(missing_ok=True)
    return True
