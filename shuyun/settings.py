"""Where things live and how to reach them. Every path and address the project uses comes from here.

Environment variables (all optional):
  SHUYUN_HOME            state folder (embedded PostgreSQL data, secrets, archives, logs); default <project>/.shuyun
  SHUYUN_WAREHOUSE_URL   an existing PostgreSQL server (owner/admin URL); unset = embedded server
  SHUYUN_DEMO_DIR        where the demo province is generated; default $SHUYUN_HOME/demo
  SHUYUN_PSEUDONYM_KEY_FILE  file holding the HMAC key for reader barcodes; default $SHUYUN_HOME/secrets/pseudonym.key
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    path = Path(os.environ.get("SHUYUN_HOME", PROJECT_ROOT / ".shuyun")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def environ(**values: str) -> Iterator[None]:
    """Set environment variables for a block (a benchmark's scratch database, say), then put back what was
    there before, unset ones unset."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def demo_dir() -> Path:
    return Path(os.environ.get("SHUYUN_DEMO_DIR", home() / "demo")).resolve()


def secrets_dir() -> Path:
    path = home() / "secrets"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def secret(name: str, env_var: str | None = None) -> str:
    """A secret from the environment, else from $SHUYUN_HOME/secrets/<name> (created once, random).

    Secrets never live in the repository; the embedded default keeps them beside its data.
    """
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    path = secrets_dir() / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def pseudonym_key() -> bytes:
    """The HMAC key that turns reader barcodes into pseudonymous keys."""
    key_file = os.environ.get("SHUYUN_PSEUDONYM_KEY_FILE")
    if key_file:
        return Path(key_file).read_text().strip().encode()
    return secret("pseudonym.key", "SHUYUN_PSEUDONYM_KEY").encode()
