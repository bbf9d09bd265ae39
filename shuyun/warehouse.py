"""The PostgreSQL warehouse: an embedded server by default, any server by `SHUYUN_WAREHOUSE_URL`.

Embedded: the `pgserver` wheel ships PostgreSQL 16; its data lives in $SHUYUN_HOME/pg and it
listens on a Unix socket in that folder only (no TCP port, so it never collides with another
server). The owner role `postgres` connects over the socket without a password; the three
working roles need their passwords (scram), so their privileges are real:

  shuyun_loader       writes raw.* and quarantine.*          (ingestion)
  shuyun_transformer  reads raw, owns staging/intermediate/marts/quality  (dbt, GX)
  shuyun_reader       reads marts only                       (Superset)

Databases on the embedded server: `shuyun` (the warehouse; SHUYUN_WAREHOUSE_DB names another), `airflow` and `superset`
(metadata of those tools). With `SHUYUN_WAREHOUSE_URL` set, that database is the warehouse and
the metadata databases are created beside it unless SHUYUN_AIRFLOW_DB_URL / SHUYUN_SUPERSET_DB_URL say otherwise.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import psycopg
from psycopg import sql

from shuyun import settings

# pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR it warns and uses /tmp, which is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", module="platformdirs")
# pgserver logs its exit bookkeeping at INFO from an atexit hook, after test runners have closed their streams.
logging.getLogger("pgserver").setLevel(logging.WARNING)

WAREHOUSE_DB = "shuyun"
METADATA_DBS = ("airflow", "superset")
ROLES = ("loader", "transformer", "reader")
SCHEMAS = ("raw", "quarantine", "staging", "intermediate", "marts", "quality")
RAW_DDL = settings.PROJECT_ROOT / "ingestion" / "sql" / "raw.sql"
GRANTS_SQL = settings.PROJECT_ROOT / "infra" / "warehouse" / "grants.sql"
QUALITY_DDL = settings.PROJECT_ROOT / "quality" / "sql" / "quality.sql"


class WarehouseError(RuntimeError):
    """A warehouse problem explained in plain words (the CLI prints it without a traceback)."""


@dataclass(frozen=True)
class Address:
    """Where a PostgreSQL database is, in the pieces every tool wants (psycopg, SQLAlchemy, dbt, Superset)."""

    host: str  # host name, or the directory of the Unix socket
    port: int
    user: str
    password: str
    dbname: str

    def url(self, driver: str = "postgresql+psycopg") -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        if self.host.startswith("/"):
            return f"{driver}://{auth}@/{self.dbname}?host={quote(self.host)}&port={self.port}"
        return f"{driver}://{auth}@{self.host}:{self.port}/{self.dbname}"

    def conninfo(self) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host, port=self.port, user=self.user, password=self.password or None, dbname=self.dbname
        )

    def env(self, prefix: str) -> dict[str, str]:
        """As environment variables, e.g. for dbt's profiles.yml (`env_var('SHUYUN_PG_HOST')`)."""
        return {
            f"{prefix}HOST": self.host,
            f"{prefix}PORT": str(self.port),
            f"{prefix}USER": self.user,
            f"{prefix}PASSWORD": self.password,
            f"{prefix}DBNAME": self.dbname,
        }


def is_embedded() -> bool:
    return not os.environ.get("SHUYUN_WAREHOUSE_URL")


def pgdata() -> Path:
    return settings.home() / "pg"


def role_name(role: str) -> str:
    return f"shuyun_{role}"


def role_password(role: str) -> str:
    return settings.secret(f"pg_{role}.password", f"SHUYUN_{role.upper()}_PASSWORD")


def _parse(url: str) -> Address:
    parts = urlsplit(url.replace("postgresql+psycopg2://", "postgresql://").replace("postgresql+psycopg://", "postgresql://"))
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    return Address(
        host=unquote(host),
        port=port,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=(parts.path or "/postgres").lstrip("/") or "postgres",
    )


def _embedded_owner() -> Address:
    info = _postmaster_info()
    if info is None or not info.is_running():
        raise WarehouseError("the embedded warehouse is not running: start it with `shuyun warehouse up`")
    return Address(host=str(info.socket_dir), port=info.port or 5432, user="postgres", password="", dbname=WAREHOUSE_DB)


def _postmaster_info():
    from pgserver.utils import PostmasterInfo

    if not (pgdata() / "postmaster.pid").exists():
        return None
    return PostmasterInfo.read_from_pgdata(pgdata())


def address(role: str = "owner", dbname: str | None = None) -> Address:
    """Address of the warehouse for a role: owner (admin), loader, transformer or reader."""
    owner = _embedded_owner() if is_embedded() else _parse(os.environ["SHUYUN_WAREHOUSE_URL"])
    # SHUYUN_WAREHOUSE_DB picks another database on the same server (tests get one of their own).
    dbname = dbname or os.environ.get("SHUYUN_WAREHOUSE_DB")
    if dbname:
        owner = replace(owner, dbname=dbname)
    if role == "owner":
        return owner
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected owner or one of {ROLES}")
    return replace(owner, user=role_name(role), password=role_password(role))


def url(role: str = "owner", driver: str = "postgresql+psycopg", dbname: str | None = None) -> str:
    return address(role, dbname).url(driver)


def metadata_address(tool: str) -> Address:
    """Metadata database of Airflow or Superset (owner role)."""
    explicit = os.environ.get(f"SHUYUN_{tool.upper()}_DB_URL")
    if explicit:
        return _parse(explicit)
    return address("owner", dbname=tool)


def connect(role: str = "owner", dbname: str | None = None, **kwargs) -> psycopg.Connection:
    return psycopg.connect(address(role, dbname).conninfo(), **kwargs)


# ---------------------------------------------------------------- embedded server lifecycle

def _start_embedded() -> None:
    import pgserver
    from pgserver.postgres_server import PostgresServer

    # pgserver caches one handle per folder per process; after `stop()` that handle is stale.
    PostgresServer._instances.pop(pgdata().resolve(), None)
    first_time = not (pgdata() / "PG_VERSION").exists()
    pgdata().parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process (until `shuyun warehouse down`).
    pgserver.get_server(pgdata(), cleanup_mode=None)
    if first_time:
        _configure_embedded()


def _configure_embedded() -> None:
    """Password authentication for everyone but the owner, and settings that suit an analytics load."""
    hba = pgdata() / "pg_hba.conf"
    hba.write_text(
        "# Written by shuyun: the owner over the socket in this folder; every other role by password.\n"
        "local all postgres trust\n"
        "local all all scram-sha-256\n"
    )
    with connect(dbname="postgres", autocommit=True) as conn:
        for setting, value in {
            **memory_settings(),
            "work_mem": "64MB",
            "maintenance_work_mem": "256MB",
            "max_wal_size": "4GB",
            "max_connections": "200",
            "timezone": "Asia/Shanghai",
            "password_encryption": "scram-sha-256",
        }.items():
            conn.execute(sql.SQL("alter system set {} = {}").format(sql.Identifier(setting), sql.Literal(value)))
    # shared_buffers and max_connections need a restart; pg_hba a reload: restart does both.
    _pg_ctl(["-w", "restart", "-m", "fast"])


def memory_settings(total_bytes: int | None = None) -> dict[str, str]:
    """PostgreSQL's own guidance for a dedicated server: shared_buffers a quarter of the RAM (here 512 MB to
    4 GB), effective_cache_size half. With 512 MB fixed, the facts' random-key indexes (event and loan ids,
    items) of a province outgrew the buffers: a daily incremental run then evicted and wrote back pages,
    and cost more the longer the history."""
    if total_bytes is None:
        total_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    ram_mb = total_bytes // 2**20
    return {"shared_buffers": f"{max(512, min(4096, ram_mb // 4))}MB",
            "effective_cache_size": f"{max(1024, ram_mb // 2)}MB"}


def _pg_ctl(args: list[str]) -> None:
    """Run pgserver's pg_ctl on our data folder (as the `pgserver` system user when we are root)."""
    import pgserver

    user = "pgserver" if os.geteuid() == 0 else None
    if "restart" in args:
        # restart must repeat pgserver's start options: socket in our folder, no TCP.
        info = _postmaster_info()
        socket_dir = info.socket_dir if info and info.socket_dir else pgdata()
        args = ["-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(pgdata() / "log"), *args]
    try:
        pgserver.pg_ctl(args, pgdata=pgdata(), user=user, timeout=60)
    except subprocess.CalledProcessError as err:
        log = pgdata() / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise WarehouseError(f"pg_ctl {' '.join(args)} failed; the server log ends with:\n{tail}") from err


def stop() -> bool:
    """Stop the embedded server (data stays). Returns False when it was not running."""
    if not is_embedded():
        return False
    info = _postmaster_info()
    if info is None or not info.is_running():
        return False
    _pg_ctl(["-w", "stop", "-m", "fast"])
    return True


def running() -> bool:
    if not is_embedded():
        try:
            with connect(connect_timeout=5):
                return True
        except psycopg.OperationalError:
            return False
    info = _postmaster_info()
    return bool(info and info.is_running())


# ---------------------------------------------------------------- bootstrap: databases, roles, schemas

def up() -> Address:
    """Start (embedded) and bring the warehouse to the expected shape. Safe to run any number of times."""
    if is_embedded():
        _start_embedded()
        with connect(dbname="postgres", autocommit=True) as conn:
            for db in (WAREHOUSE_DB, *METADATA_DBS):
                _create_database(conn, db)
    else:
        with connect(dbname="postgres", autocommit=True) as conn:
            for tool in METADATA_DBS:
                if not os.environ.get(f"SHUYUN_{tool.upper()}_DB_URL"):
                    _create_database(conn, tool)
    bootstrap(address())
    return address()


def _database_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is not None


def _create_database(conn: psycopg.Connection, name: str) -> None:
    if not _database_exists(conn, name):
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def database_exists(name: str) -> bool:
    """Whether the server has a database of that name (a bench's own database, say)."""
    with connect(dbname="postgres") as conn:
        return _database_exists(conn, name)


def bootstrap(owner: Address) -> None:
    """Roles, schemas, raw tables and grants in the database at `owner` (idempotent)."""
    # Roles are cluster-wide: two bootstraps at once (two test sessions, say) would collide on them
    # ("tuple concurrently updated"). An advisory lock in the `postgres` database serialises them.
    with psycopg.connect(replace(owner, dbname="postgres").conninfo(), autocommit=True) as lock_conn:
        lock_conn.execute("select pg_advisory_lock(hashtext('shuyun bootstrap'))")
        _bootstrap(owner)


def _bootstrap(owner: Address) -> None:
    with psycopg.connect(owner.conninfo(), autocommit=True) as conn:
        for role in ROLES:
            name, password = role_name(role), role_password(role)
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
            statement = "alter role {} with login password {}" if exists else "create role {} with login password {}"
            conn.execute(sql.SQL(statement).format(sql.Identifier(name), sql.Literal(password)))
        conn.execute(RAW_DDL.read_text())
        conn.execute(sql.SQL(GRANTS_SQL.read_text()).format(database=sql.Identifier(owner.dbname)))
        # The gate results tables belong to the transformer (GX writes them, dbt staging reads the holds);
        # created here too so staging can filter on them before the first gate has run.
        conn.execute("set role shuyun_transformer")
        conn.execute(QUALITY_DDL.read_text())
        conn.execute("reset role")


def create_database(name: str) -> Address:
    """A fresh, bootstrapped warehouse database beside the configured one (tests use this)."""
    with connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    owner = address(dbname=name)
    bootstrap(owner)
    return owner


def drop_database(name: str) -> None:
    with connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
