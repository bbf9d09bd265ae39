"""Airflow as a background service of the project, and its runs through the REST API (v2).

`start()` brings up what Airflow 3.3 needs — `api-server` (UI, REST and the execution API the workers
report to), `scheduler` (with the LocalExecutor and a small parallelism), `dag-processor` and
`triggerer` — each a process group of its own, tracked by a pid file in $AIRFLOW_HOME/run. Calling it
again while they run changes nothing; `stop()` ends exactly those processes.

State lives in `shuyun.settings.home()/"airflow"` (AIRFLOW_HOME: logs, pid files, the password file);
the metadata database is the embedded PostgreSQL's `airflow` database (or SHUYUN_AIRFLOW_DB_URL).
Configuration is passed as AIRFLOW__… environment variables built by `airflow_env()`, so the same
settings reach every component, the CLI and the tests; nothing is written into airflow.cfg.

Knobs (environment): SHUYUN_AIRFLOW_PORT (default 8080; if busy and not set explicitly, the next free
port), SHUYUN_AIRFLOW_PARALLELISM (4), SHUYUN_AIRFLOW_PASSWORD (admin password; generated otherwise).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

from shuyun import settings
from shuyun import warehouse as wh

log = logging.getLogger(__name__)

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DAGS_FOLDER = settings.PROJECT_ROOT / "dags"
ADMIN_USER = "admin"
HOST = "127.0.0.1"
DEFAULT_PORT = 8080
SHUYUN_DAGS = ("shuyun_ingest", "shuyun_transform", "shuyun_publish")
TERMINAL_STATES = {"success", "failed"}


class AirflowError(RuntimeError):
    """An Airflow problem in plain words (the CLI prints it without a traceback)."""


class RunFailed(AirflowError):
    """A DAG run ended `failed`; carries the failed task ids and a log excerpt."""

    def __init__(self, dag_id: str, run_id: str, failed_tasks: list[str], excerpt: str):
        self.dag_id, self.run_id, self.failed_tasks, self.excerpt = dag_id, run_id, failed_tasks, excerpt
        tasks = ", ".join(failed_tasks) or "no task failed (run timeout or upstream problem)"
        super().__init__(f"{dag_id} run {run_id} failed; failed tasks: {tasks}\n{excerpt}".rstrip())


@dataclass
class Info:
    url: str
    user: str
    password: str
    home: str
    pids: dict[str, int] = field(default_factory=dict)
    started: bool = False  # False when everything was already running
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- paths and configuration

def airflow_home() -> Path:
    path = settings.home() / "airflow"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run_dir() -> Path:
    path = airflow_home() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def admin_password() -> str:
    return settings.secret("airflow_admin.password", "SHUYUN_AIRFLOW_PASSWORD")


def _fernet_key() -> str:
    """A valid Fernet key (url-safe base64 of 32 bytes), kept with the other secrets."""
    path = settings.secrets_dir() / "airflow_fernet.key"
    if os.environ.get("SHUYUN_AIRFLOW_FERNET_KEY"):
        return os.environ["SHUYUN_AIRFLOW_FERNET_KEY"]
    if not path.exists():
        path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


def metadata_url() -> str:
    """SQLAlchemy URL of Airflow's metadata database (psycopg2 when installed: Airflow's tested driver)."""
    try:
        import psycopg2  # noqa: F401

        driver = "postgresql+psycopg2"
    except ImportError:
        driver = "postgresql+psycopg"
    return wh.metadata_address("airflow").url(driver)


def port() -> int:
    """The port of the running api-server, else the configured one, else the first free from 8080."""
    recorded = _run_dir() / "port"
    if recorded.exists() and _alive("api-server"):
        return int(recorded.read_text())
    if os.environ.get("SHUYUN_AIRFLOW_PORT"):
        return int(os.environ["SHUYUN_AIRFLOW_PORT"])
    for candidate in range(DEFAULT_PORT, DEFAULT_PORT + 100):
        if _port_free(candidate):
            return candidate
    raise AirflowError(f"no free port in {DEFAULT_PORT}..{DEFAULT_PORT + 99}; set SHUYUN_AIRFLOW_PORT")


def _port_free(number: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, number))
        except OSError:
            return False
    return True


def airflow_env(
    port_number: int | None = None, sql_alchemy_conn: str | None = None, home: Path | None = None
) -> dict[str, str]:
    """The environment every Airflow process of the project runs with (a copy of os.environ plus AIRFLOW__…).

    `home` and `sql_alchemy_conn` default to the project's Airflow; tests pass their own.
    """
    home = home or airflow_home()
    port_number = port_number or port()
    base_url = f"http://{HOST}:{port_number}"
    parallelism = os.environ.get("SHUYUN_AIRFLOW_PARALLELISM", "4")
    pythonpath = os.pathsep.join(p for p in (str(settings.PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": pythonpath,
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": parallelism,
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": parallelism,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home() / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn or metadata_url(),
            # the async engine (api-server) would default to asyncpg, which is not installed; psycopg 3 is async
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": _async_url(sql_alchemy_conn or metadata_url()),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "5",
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(port_number),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__EXPOSE_CONFIG": "False",
            "AIRFLOW__API__SECRET_KEY": settings.secret("airflow_api.secret"),
            "AIRFLOW__API_AUTH__JWT_SECRET": settings.secret("airflow_jwt.secret"),
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            # log servers of the scheduler's workers and of the triggerer: Airflow's 8793/8794 next to
            # port 8080, shifted with the api-server's port so two Airflows on one machine do not collide
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(8793 + 2 * (port_number - DEFAULT_PORT)),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(8794 + 2 * (port_number - DEFAULT_PORT)),
            "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(home / "logs" / "dag_processor"),
            "AIRFLOW__TRIGGERER__CAPACITY": "50",
        }
    )
    return env


def _async_url(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql+psycopg://", 1)


def _write_password_file() -> None:
    path = airflow_home() / "passwords.json"
    wanted = {ADMIN_USER: admin_password()}
    if not path.exists() or json.loads(path.read_text() or "{}") != wanted:
        path.write_text(json.dumps(wanted) + "\n")
        path.chmod(0o600)


def airflow_bin() -> str:
    """The `airflow` executable of the environment this Python runs in."""
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"


def run_airflow(args: list[str], timeout: float = 300, env: dict | None = None) -> str:
    """Run one `airflow …` command with the project's configuration; its output, or AirflowError with its tail."""
    proc = subprocess.run(
        [airflow_bin(), *args], env=env or airflow_env(), capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise AirflowError(f"`airflow {' '.join(args)}` exited with {proc.returncode}:\n{tail}")
    return proc.stdout


# ---------------------------------------------------------------- processes

def _pid_file(component: str) -> Path:
    return _run_dir() / f"{component}.pid"


def _pid(component: str) -> int | None:
    try:
        return int(_pid_file(component).read_text().strip())
    except (OSError, ValueError):
        return None


def _is_ours(pid: int, component: str) -> bool:
    """The pid is alive and still runs `airflow <component>` (a recycled pid is not ours)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # a zombie has finished
            return False
    except (OSError, IndexError):
        return False
    # airflow sets process titles, e.g. `airflow api_server -- host:…`: match both spellings
    text = b" ".join(cmdline)
    return b"airflow" in text and (component.encode() in text or component.replace("-", "_").encode() in text)


def _alive(component: str) -> bool:
    pid = _pid(component)
    return pid is not None and _is_ours(pid, component)


def _spawn(component: str, env: dict[str, str]) -> int:
    log_path = airflow_home() / "logs" / f"{component}.out"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = [airflow_bin(), component]
    if component == "api-server":
        args += ["--host", HOST, "--port", env["AIRFLOW__API__PORT"]]
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=str(airflow_home()),
        )
    _pid_file(component).write_text(str(proc.pid))
    return proc.pid


def start(timeout: float = 180) -> Info:
    """Start Airflow in the background and wait until it is healthy; harmless when it already runs."""
    began = time.perf_counter()
    wh.up()
    running = {c: _pid(c) for c in COMPONENTS if _alive(c)}
    port_number = port()
    if len(running) == len(COMPONENTS):
        _wait_healthy(port_number, timeout)
        return _info(port_number, running, started=False, seconds=time.perf_counter() - began)
    if "api-server" not in running and not _port_free(port_number):
        raise AirflowError(f"port {port_number} is taken by another program; set SHUYUN_AIRFLOW_PORT to a free one")
    env = airflow_env(port_number)
    _write_password_file()
    run_airflow(["db", "migrate"], env=env)
    (_run_dir() / "port").write_text(str(port_number))
    for component in COMPONENTS:
        if component not in running:
            running[component] = _spawn(component, env)
    _wait_healthy(port_number, timeout, env)
    running = {c: _pid(c) for c in COMPONENTS}
    return _info(port_number, running, started=True, seconds=time.perf_counter() - began)


def _info(port_number: int, pids: dict, started: bool, seconds: float) -> Info:
    return Info(
        url=f"http://{HOST}:{port_number}", user=ADMIN_USER, password=admin_password(), home=str(airflow_home()),
        pids=dict(pids), started=started, seconds=round(seconds, 1),
    )


def _wait_healthy(port_number: int, timeout: float, env: dict[str, str] | None = None) -> dict:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    restarted: set[str] = set()
    while time.monotonic() < deadline:
        dead = [c for c in COMPONENTS if not _alive(c)]
        # a component that exits while the others come up (seen once on a fresh clone: the triggerer, with an
        # empty log) gets one more start; a second exit is an error with its log
        if dead and env is not None and not restarted & set(dead):
            for component in dead:
                log.warning("airflow %s exited while starting; starting it once more", component)
                _spawn(component, env)
                restarted.add(component)
            time.sleep(2)
            continue
        if dead:
            raise AirflowError(f"airflow {', '.join(dead)} exited while starting; see {_log_tails(dead)}")
        try:
            health = _http("GET", f"http://{HOST}:{port_number}/api/v2/monitor/health", token=None)
            states = {k: (v or {}).get("status") for k, v in health.items() if isinstance(v, dict)}
            if states and all(s == "healthy" for s in states.values()):
                return health
            last = str(states)
        except (OSError, AirflowError) as err:
            last = str(err)
        time.sleep(1)
    raise AirflowError(
        f"Airflow did not become healthy within {timeout:.0f}s (last: {last}); see {_log_tails(COMPONENTS)}"
    )


def _log_tails(components) -> str:
    parts = []
    for component in components:
        path = airflow_home() / "logs" / f"{component}.out"
        tail = path.read_text(errors="replace")[-1500:] if path.exists() else "(no output)"
        parts.append(f"{path}:\n{tail}")
    return "\n".join(parts)


def stop(timeout: float = 30) -> list[str]:
    """End every Airflow process start() began (by their pid files). Returns the components stopped."""
    stopped = []
    for component in reversed(COMPONENTS):
        pid = _pid(component)
        if pid is not None and _is_ours(pid, component):
            try:
                os.killpg(pid, signal.SIGTERM)  # its own session: the group holds its workers too
            except ProcessLookupError:
                pass
            stopped.append(component)
    deadline = time.monotonic() + timeout
    for component in stopped:
        pid = _pid(component)
        while _is_ours(pid, component) and time.monotonic() < deadline:
            time.sleep(0.3)
        if _is_ours(pid, component):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for component in COMPONENTS:
        _pid_file(component).unlink(missing_ok=True)
    (_run_dir() / "port").unlink(missing_ok=True)
    return stopped


def status() -> dict:
    """Which components run (pid or None), the UI address and, when it answers, the health report."""
    components = {c: (_pid(c) if _alive(c) else None) for c in COMPONENTS}
    result = {"components": components, "home": str(airflow_home())}
    if components["api-server"]:
        port_number = port()
        result["url"] = f"http://{HOST}:{port_number}"
        try:
            result["health"] = _http("GET", f"{result['url']}/api/v2/monitor/health", token=None)
        except (OSError, AirflowError) as err:
            result["health"] = {"error": str(err)}
    return result


# ---------------------------------------------------------------- REST API

def _http(method: str, url: str, body=None, token: str | None = "auto", ok=(200, 201, 204)) -> dict:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token == "auto":
        token = _token()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return json.loads(raw) if raw else {}
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:1000]
        raise ApiError(err.code, f"{method} {url} answered {err.code}: {detail}") from None


class ApiError(AirflowError):
    def __init__(self, code: int, message: str):
        self.code = code
        super().__init__(message)


_TOKEN: dict[str, str] = {}


def _base() -> str:
    if not _alive("api-server"):
        raise AirflowError("Airflow is not running: start it with `shuyun airflow up`")
    return f"http://{HOST}:{port()}"


def _token() -> str:
    base = _base()
    if base not in _TOKEN:
        answer = _http("POST", f"{base}/auth/token", {"username": ADMIN_USER, "password": admin_password()}, token=None)
        _TOKEN[base] = answer["access_token"]
    return _TOKEN[base]


def api(method: str, path: str, body=None, patience: float = 120, **query) -> dict:
    """Call the REST API v2 (`path` after /api/v2) as the admin user.

    Reads (GET) ride out `patience` seconds of transient trouble — a 5xx while the metadata database
    restarts, a refused connection while the api-server restarts its worker — so a long wait() survives them.
    """
    params = {k: v for k, v in query.items() if v is not None}
    url = f"{_base()}/api/v2/{path.lstrip('/')}" + (f"?{urllib.parse.urlencode(params, doseq=True)}" if params else "")
    deadline = time.monotonic() + patience
    delay = 1.0
    while True:
        try:
            return _http(method, url, body)
        except (ApiError, OSError) as err:
            transient = isinstance(err, OSError) or err.code >= 500 or err.code == 401
            if method != "GET" or not transient or time.monotonic() + delay > deadline:
                raise
            log.warning("Airflow API %s %s: %s; retrying in %.0fs", method, path, err, delay)
            if isinstance(err, ApiError) and err.code == 401:
                _TOKEN.clear()  # the token expired: log in again
            time.sleep(delay)
            delay = min(delay * 2, 15)


def wait_for_dag(dag_id: str, timeout: float = 120) -> dict:
    """Wait until the dag-processor has serialized `dag_id` (the first minute after start)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return api("GET", f"dags/{dag_id}")
        except ApiError as err:
            if err.code != 404 or time.monotonic() > deadline:
                errors = _import_errors()
                raise AirflowError(f"DAG {dag_id} is not known to Airflow{errors}") from None
        time.sleep(2)


def _import_errors() -> str:
    try:
        errors = api("GET", "importErrors").get("import_errors", [])
    except AirflowError:
        return ""
    return "".join(f"\nimport error in {e.get('filename')}: {e.get('stack_trace', '')[-800:]}" for e in errors)


def unpause(dag_id: str) -> None:
    wait_for_dag(dag_id)
    api("PATCH", f"dags/{dag_id}", {"is_paused": False})


def trigger(
    dag_id: str, conf: dict | None = None, logical_date: datetime | str | None = None, downstream: bool = True
) -> str:
    """Start a run of `dag_id`; its run_id. Unpauses the DAG and (`downstream`) the asset-scheduled DAGs after it."""
    after = SHUYUN_DAGS[SHUYUN_DAGS.index(dag_id) + 1:] if downstream and dag_id in SHUYUN_DAGS else ()
    for name in (dag_id, *after):
        unpause(name)
    if isinstance(logical_date, (datetime, date)):
        logical_date = logical_date.isoformat()
    answer = api("POST", f"dags/{dag_id}/dagRuns", {"logical_date": logical_date, "conf": conf or {}})
    return answer["dag_run_id"]


def run_state(dag_id: str, run_id: str) -> str:
    return api("GET", f"dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")["state"]


def wait(dag_id: str, run_id: str, timeout: float = 3600, poll: float = 3) -> str:
    """Wait for a run to end: 'success', or RunFailed naming the failed tasks with a log excerpt."""
    deadline = time.monotonic() + timeout
    restarts = 0
    while True:
        dead = [c for c in COMPONENTS if not _alive(c)]
        if dead:
            # e.g. the scheduler exits when the metadata database restarts under it: bring back what is missing
            if restarts >= 3:
                raise AirflowError(f"airflow {', '.join(dead)} keep exiting; see {_log_tails(dead)}")
            log.warning("airflow %s not running; restarting it", ", ".join(dead))
            start()
            restarts += 1
        state = run_state(dag_id, run_id)
        if state == "success":
            return state
        if state == "failed":
            failed, excerpt = failure_report(dag_id, run_id)
            raise RunFailed(dag_id, run_id, failed, excerpt)
        if time.monotonic() > deadline:
            raise AirflowError(f"{dag_id} run {run_id} is still {state} after {timeout:.0f}s")
        time.sleep(poll)


def failure_report(dag_id: str, run_id: str, lines: int = 12) -> tuple[list[str], str]:
    """The failed tasks of a run (`task[source]` for mapped ones) and the error lines of their logs.

    For each failed task the latest try whose log has error lines is quoted (a try killed at start has none).
    """
    run = urllib.parse.quote(run_id, safe="")
    tis = api("GET", f"dags/{dag_id}/dagRuns/{run}/taskInstances", state=["failed"], limit=100)
    names, excerpts = [], []
    for ti in tis.get("task_instances", []):
        label = ti["task_id"] + (f"[{ti.get('rendered_map_index') or ti['map_index']}]" if ti["map_index"] >= 0 else "")
        names.append(label)
        quoted = None
        for try_number in range(max(ti["try_number"], 1), 0, -1):
            try:
                content = api(
                    "GET", f"dags/{dag_id}/dagRuns/{run}/taskInstances/{ti['task_id']}/logs/{try_number}",
                    map_index=ti["map_index"], full_content="true",
                ).get("content", [])
            except AirflowError as err:
                quoted = quoted or [f"log unavailable ({err})"]
                continue
            text = [line for line in (_log_line(item) for item in content) if line]
            errors = [line for line in text if " error " in f" {line.lower()} " or "failed" in line.lower()]
            if errors:
                quoted = [f"(try {try_number})", *errors[-lines:]]
                break
            quoted = quoted or [f"(try {try_number})", *text[-lines:]]
        excerpts.append(f"--- {label}:\n" + "\n".join(quoted or []))
    return names, "\n".join(excerpts)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _log_line(item) -> str:
    """One log record as text; Airflow's own group markers and the log-source header are dropped."""
    if isinstance(item, dict) and str(item.get("event", "")).startswith("::"):
        return ""
    if isinstance(item, str) and (item.startswith("::") or item.startswith("/")):
        return ""
    if isinstance(item, dict):
        extra = item.get("error_detail")
        text = f"{item.get('timestamp', '')} {item.get('level', '')} {item.get('event', '')}".strip()
        if extra:
            last = extra[-1] if isinstance(extra, list) else extra
            if isinstance(last, dict):
                text += f" | {last.get('exc_type')}: {last.get('exc_value')}"
        return _ANSI.sub("", text)
    return _ANSI.sub("", str(item))


def backfill(
    dag_id: str, start: date | str, end: date | str, reprocess: str = "failed", max_active_runs: int = 1,
    downstream: bool = True,
) -> dict:
    """Runs for every scheduled interval from `start` to `end`; runs that succeeded are not repeated.

    Idempotent: asking again while a backfill of the DAG runs returns that backfill; asking after it
    finished creates runs only for intervals without a successful run (`reprocess="failed"`).
    `downstream` unpauses the asset-scheduled DAGs after it too, as `trigger()` does: on a fresh Airflow
    (new DAGs are paused) a backfill of shuyun_ingest would otherwise never reach the marts.
    """
    after = SHUYUN_DAGS[SHUYUN_DAGS.index(dag_id) + 1:] if downstream and dag_id in SHUYUN_DAGS else ()
    for name in (dag_id, *after):
        unpause(name)
    body = {
        "dag_id": dag_id, "from_date": _iso(start), "to_date": _iso(end),
        "reprocess_behavior": reprocess, "max_active_runs": max_active_runs, "run_backwards": False,
    }
    try:
        return api("POST", "backfills", body)
    except ApiError as err:
        if err.code == 409:
            running = api("GET", "backfills", dag_id=dag_id).get("backfills", [])
            active = [b for b in running if not b.get("completed_at")]
            if active:
                return active[0]
        if err.code == 422 and "No runs to create" in str(err) or "NoBackfillRunsToCreate" in str(err):
            return {"dag_id": dag_id, "from_date": body["from_date"], "to_date": body["to_date"], "runs": 0,
                    "note": "every interval already has a run"}
        raise


def _iso(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return datetime.fromisoformat(str(value)).replace(tzinfo=None).isoformat() + "+08:00"


def backfill_runs(dag_id: str, backfill_id: int) -> list[dict]:
    runs = api("GET", f"dags/{dag_id}/dagRuns", limit=1000, run_type=["backfill"]).get("dag_runs", [])
    return [r for r in runs if r.get("backfill_id") in (None, backfill_id)]


def task_ended(dag_id: str, run_id: str, task_id: str) -> str | None:
    """When a task of a run ended (ISO 8601), or None when it did not run."""
    run = urllib.parse.quote(run_id, safe="")
    try:
        return api("GET", f"dags/{dag_id}/dagRuns/{run}/taskInstances/{task_id}").get("end_date")
    except ApiError as err:
        if err.code == 404:
            return None
        raise


def wait_asset_run(dag_id: str, after: str, timeout: float = 1800, poll: float = 3) -> str:
    """The first asset-triggered run of `dag_id` that starts after `after` (ISO 8601), waited for; its run_id.

    Airflow folds asset events that arrive while a run of the consumer is queued into that run, so the
    run that reads the data is the first one *starting* after the event — not necessarily one created by it.
    """
    deadline = time.monotonic() + timeout
    after_ts = datetime.fromisoformat(after.replace("Z", "+00:00"))
    while True:
        runs = api("GET", f"dags/{dag_id}/dagRuns", order_by="-run_after", limit=20).get("dag_runs", [])
        fitting = [
            r for r in runs if r.get("run_type") == "asset_triggered"
            and (not r.get("start_date") or datetime.fromisoformat(r["start_date"].replace("Z", "+00:00")) >= after_ts)
        ]
        if fitting:
            run_id = min(fitting, key=lambda r: r["run_after"])["dag_run_id"]
            wait(dag_id, run_id, timeout=max(deadline - time.monotonic(), 1), poll=poll)
            return run_id
        if time.monotonic() > deadline:
            raise AirflowError(f"no asset-triggered run of {dag_id} started after {after} within {timeout:.0f}s")
        time.sleep(poll)


def run_chain(start: date | str | None = None, end: date | str | None = None, sources: list[str] | None = None,
              everything: bool = False, timeout: float = 3600) -> dict:
    """The whole chain for one period: ingest (a manual run) → transform → publish, each waited for.

    `start`/`end`: the half-open local period; `everything=True`: every delivery not loaded yet (initial load).
    A county that failed to load does not stop the chain (its failure is in `county_failures`); a failed
    registry load, transform or publish does (RunFailed).
    """
    conf = {"start": start and str(start), "end": end and str(end), "sources": sources, "all_deliveries": everything}
    ingest_run = trigger("shuyun_ingest", conf={k: v for k, v in conf.items() if v})
    result = {"shuyun_ingest": ingest_run, "county_failures": None}
    try:
        wait("shuyun_ingest", ingest_run, timeout=timeout)
    except RunFailed as failure:
        if not all(task.startswith(("ingest_county", "all_counties_loaded")) for task in failure.failed_tasks):
            raise
        result["county_failures"] = str(failure)
    landed = task_ended("shuyun_ingest", ingest_run, "raw_landed")
    result["shuyun_transform"] = wait_asset_run("shuyun_transform", landed, timeout=timeout)
    built = task_ended("shuyun_transform", result["shuyun_transform"], "marts_built")
    result["shuyun_publish"] = wait_asset_run("shuyun_publish", built, timeout=timeout)
    return result
