"""The Superset service's bookkeeping (fast: no Superset started)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from dashboards import service
from shuyun import warehouse as wh


def fake_instance(tmp_path: Path, port: int = 18999) -> service.Instance:
    return service.Instance(
        state_dir=tmp_path / "state", venv=tmp_path / "venv", port=port,
        metadata=wh.Address(host="/nowhere", port=5432, user="postgres", password="", dbname="superset_x"),
    )


def test_ensure_env_leaves_a_venv_synced_from_the_same_lock(tmp_path, monkeypatch):
    # given a venv stamped with the current lock
    inst = fake_instance(tmp_path)
    (inst.venv / "bin").mkdir(parents=True)
    (inst.venv / "bin" / "superset").touch()
    (inst.venv / ".shuyun-lock-sha256").write_text(service._lock_digest())
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    # when the environment is ensured / then uv is not run
    assert service.ensure_env(inst) == inst.venv
    assert calls == []


@pytest.mark.parametrize("stamp", [pytest.param(None, id="never-synced"), pytest.param("old", id="lock-changed")])
def test_ensure_env_syncs_a_missing_or_stale_venv(tmp_path, monkeypatch, stamp):
    inst = fake_instance(tmp_path)
    inst.venv.mkdir()
    if stamp:
        (inst.venv / ".shuyun-lock-sha256").write_text(stamp)
    calls = []

    def fake_run(args, env, **kwargs):
        calls.append((args, env["UV_PROJECT_ENVIRONMENT"]))
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    service.ensure_env(inst)
    (args, target), = calls
    assert args[1:3] == ["sync", "--project"] and "--frozen" in args and target == str(inst.venv)
    assert (inst.venv / ".shuyun-lock-sha256").read_text() == service._lock_digest()


def test_a_failed_sync_says_so(tmp_path, monkeypatch):
    inst = fake_instance(tmp_path)
    monkeypatch.setattr(subprocess, "run", lambda args, **k: subprocess.CompletedProcess(args, 1, "", "no network"))
    with pytest.raises(service.SupersetError, match="installing Superset's environment failed:\nno network"):
        service.ensure_env(inst)


def test_a_stale_pid_file_means_stopped(tmp_path):
    inst = fake_instance(tmp_path)
    inst.state_dir.mkdir()
    inst.pid_file.write_text("999999999")
    assert service.status(inst).running is False
    assert service.stop(inst) is False
    assert not inst.pid_file.exists()


def test_a_busy_port_moves_to_the_next_free_one():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert service._choose_port(port) != port


def test_superset_gets_its_config_and_secret_from_the_environment(tmp_path):
    env = service.superset_env(fake_instance(tmp_path))
    assert env["SUPERSET_CONFIG_PATH"].endswith("infra/superset/superset_config.py")
    assert env["SHUYUN_SUPERSET_METADATA_URL"].startswith("postgresql+psycopg2://postgres@/superset_x")
    assert len(env["SUPERSET_SECRET_KEY"]) >= 32
