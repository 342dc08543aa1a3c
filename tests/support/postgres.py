"""A throwaway PostgreSQL server, a DuckDB -> PostgreSQL copier and a dbt runner, for tests.

* :func:`postgres_server` starts a private PostgreSQL (15 by default) in a temporary folder,
  listening only on 127.0.0.1 on a free port (unix socket inside that folder), creates the
  database ``warehouse`` and yields its :class:`PostgresSettings`. The server is stopped and
  the folder removed on exit, whatever happened. PostgreSQL refuses to run as root: under
  root every server program runs as the ``postgres`` OS user.
* :func:`copy_duckdb_schemas_to_postgres` copies every table of DuckDB schemas to PostgreSQL
  (``orchestration.engines.postgres.copy_to_postgres``: mapped types, bulk COPY).
* :func:`run_dbt` runs the repository's dbt in ``dbt_project/`` with ``--profiles-dir`` at
  the repository root; :func:`dbt_failures` and friends read its ``run_results.json``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from orchestration.engines.postgres import TableCopy, copy_to_postgres  # noqa: E402
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
PG_VERSION = "15"
PG_OS_USER = "postgres"  # the OS account server programs run as when we are root
PG_SUPERUSER = "postgres"  # the database superuser initdb creates
DEFAULT_DATABASE = "warehouse"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL server programs are missing or the server could not be started."""


# --------------------------------------------------------------------------- server


@dataclass(frozen=True)
class PostgresSettings:
    host: str
    port: int
    user: str
    password: str
    database: str
    socket_dir: str = ""
    server_version: str = ""

    def connect_kwargs(self, database: str | None = None) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": database or self.database,
        }

    def connect(self, database: str | None = None, **kwargs: Any):
        """A psycopg2 connection (UTF-8 client encoding) to ``database`` (default: ours)."""
        import psycopg2

        return psycopg2.connect(**self.connect_kwargs(database), client_encoding="UTF8", **kwargs)

    def dbt_env(self) -> dict[str, str]:
        """The environment the ``postgres`` target of profiles.yml reads."""
        return {
            "CEW_ENGINE": "postgres",
            "CEW_PG_HOST": self.host,
            "CEW_PG_PORT": str(self.port),
            "CEW_PG_USER": self.user,
            "CEW_PG_PASSWORD": self.password,
            "CEW_PG_DATABASE": self.database,
        }


def find_postgres_bin_dir() -> Path:
    """The folder holding initdb/pg_ctl/postgres: $CEW_PG_BIN_DIR, else PostgreSQL 15, else another."""
    wanted = ("initdb", "pg_ctl", "postgres")
    candidates: list[str] = []
    if os.environ.get("CEW_PG_BIN_DIR"):
        candidates.append(os.environ["CEW_PG_BIN_DIR"])
    candidates.append(f"/usr/lib/postgresql/{PG_VERSION}/bin")
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for folder in candidates:
        if all(os.access(Path(folder) / name, os.X_OK) for name in wanted):
            return Path(folder)
    raise PostgresUnavailable(
        "PostgreSQL server programs (initdb, pg_ctl, postgres) not found; looked in "
        + ", ".join(dict.fromkeys(candidates))
        + f". Install PostgreSQL {PG_VERSION} (Debian/Ubuntu: apt-get install postgresql-{PG_VERSION}), "
        "point CEW_PG_BIN_DIR at its bin folder, or deselect these tests with -m 'not postgres'."
    )


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Runner:
    """Runs server programs, as the ``postgres`` OS user when we are root."""

    def __init__(self, base: Path):
        self.base = base
        self.as_root = os.geteuid() == 0
        self.kwargs: dict[str, Any] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8", TZ="UTC")
        if self.as_root:
            try:
                account = pwd.getpwnam(PG_OS_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root, but there is no {PG_OS_USER!r} OS user to run PostgreSQL as "
                    "(PostgreSQL refuses to run as root)"
                ) from None
            self.uid, self.gid = account.pw_uid, account.pw_gid
            self.kwargs = {"user": self.uid, "group": self.gid, "extra_groups": []}
            env.update(HOME=str(base), USER=PG_OS_USER, LOGNAME=PG_OS_USER)
        self.env = env

    def chown(self, path: Path) -> None:
        if self.as_root:
            os.chown(path, self.uid, self.gid)

    def run(self, cmd: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(c) for c in cmd],
            cwd=self.base,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **self.kwargs,
        )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _is_our_postmaster(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is the postmaster of ``data_dir`` (a stale pid file may name another process)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(data_dir).encode() in cmdline


def _stop_server(runner: _Runner, bin_dir: Path, data_dir: Path) -> None:
    """Stop the server at ``data_dir``: pg_ctl immediate stop, SIGKILL if that did not work."""
    pid = _postmaster_pid(data_dir)
    if pid is None:
        return
    with contextlib.suppress(Exception):
        runner.run([bin_dir / "pg_ctl", "-D", data_dir, "-m", "immediate", "-w", "-t", "30", "-s", "stop"], 60)
    deadline = time.monotonic() + 10
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(pid) and _is_our_postmaster(pid, data_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _remove_tree(path: Path) -> None:
    for attempt in range(5):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt == 4:
                raise
            time.sleep(0.2)  # backends that outlived the postmaster may still be exiting


@contextlib.contextmanager
def postgres_server(
    database: str = DEFAULT_DATABASE,
    *,
    bin_dir: str | os.PathLike | None = None,
    start_timeout: float = 60,
    settings: Mapping[str, str] | None = None,
) -> Iterator[PostgresSettings]:
    """Start a throwaway PostgreSQL server, create ``database``, yield its settings.

    The server listens on 127.0.0.1 only, on a free port, with its unix socket in its own
    temporary folder and password (scram) authentication for the superuser ``postgres``.
    Durability is switched off (fsync, synchronous_commit, full_page_writes) and the time
    zone is UTC. ``settings`` adds or overrides postgresql.conf parameters. On exit, on
    error as well, the server is stopped and the folder deleted.
    """
    bin_dir = Path(bin_dir) if bin_dir else find_postgres_bin_dir()
    missing = [p for p in ("initdb", "pg_ctl", "postgres") if not os.access(bin_dir / p, os.X_OK)]
    if missing:
        raise PostgresUnavailable(f"{bin_dir} lacks the PostgreSQL server program(s) {', '.join(missing)}")
    base = Path(tempfile.mkdtemp(prefix="cew-pg-"))
    data_dir = base / "data"
    log_file = base / "server.log"
    runner: _Runner | None = None
    try:
        runner = _Runner(base)
        os.chmod(base, 0o700)
        runner.chown(base)
        password = secrets.token_hex(16)
        pwfile = base / "pwfile"
        pwfile.write_text(password + "\n")
        runner.chown(pwfile)
        for locale in ("C.UTF-8", "C"):  # C.UTF-8: lower()/upper() know non-ASCII letters (ğ, İ)
            init = runner.run(
                [
                    bin_dir / "initdb", "-D", data_dir, "-U", PG_SUPERUSER, f"--pwfile={pwfile}",
                    "--auth=scram-sha-256", "--encoding=UTF8", f"--locale={locale}", "--no-sync",
                    "--no-instructions",
                ]
            )
            if init.returncode == 0 or "locale" not in (init.stdout + init.stderr).lower():
                break
            shutil.rmtree(data_dir, ignore_errors=True)
        pwfile.unlink()
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")

        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{base}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
            "max_connections": "50",
            "logging_collector": "off",
        }
        conf.update(settings or {})
        last_error = ""
        for _attempt in range(3):  # another process may grab the free port before the server binds it
            port = _free_port()
            lines = [f"{k} = {v}" for k, v in {**conf, "port": str(port)}.items()]
            (data_dir / "postgresql.auto.conf").write_text(
                "# written by tests/support/postgres.py\n" + "\n".join(lines) + "\n"
            )
            runner.chown(data_dir / "postgresql.auto.conf")
            start = runner.run(
                [bin_dir / "pg_ctl", "-D", data_dir, "-l", log_file, "-w", "-t", str(int(start_timeout)), "-s",
                 "start"],
                timeout=start_timeout + 30,
            )
            if start.returncode == 0:
                break
            last_error = f"{start.stdout}{start.stderr}\nserver log:\n{_tail(log_file)}"
            _stop_server(runner, bin_dir, data_dir)
            if "could not bind" not in last_error and "already in use" not in last_error:
                break
        else:
            start = None
        if start is None or start.returncode != 0:
            raise PostgresUnavailable(f"PostgreSQL did not start (pg_ctl start):\n{last_error}")

        admin = PostgresSettings("127.0.0.1", port, PG_SUPERUSER, password, "postgres", str(base))
        con = admin.connect()
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute("SHOW server_version")
                version = cur.fetchone()[0]
                if database != "postgres":
                    cur.execute(f'CREATE DATABASE "{database}"')
        finally:
            con.close()
        yield PostgresSettings("127.0.0.1", port, PG_SUPERUSER, password, database, str(base), version)
    finally:
        try:
            if runner is not None:
                _stop_server(runner, bin_dir, data_dir)
        finally:
            _remove_tree(base)


# --------------------------------------------------------------------------- copy


def _as_settings(pg_settings: PostgresSettings | Mapping[str, Any]) -> PostgresSettings:
    if isinstance(pg_settings, PostgresSettings):
        return pg_settings
    s = dict(pg_settings)
    return PostgresSettings(
        host=s.get("host", "127.0.0.1"),
        port=int(s.get("port", 5432)),
        user=s.get("user", PG_SUPERUSER),
        password=s.get("password", ""),
        database=s.get("database") or s.get("dbname") or DEFAULT_DATABASE,
    )


def copy_duckdb_schemas_to_postgres(
    duckdb_path: str | os.PathLike | Any,
    pg_settings: PostgresSettings | Mapping[str, Any],
    schemas: Sequence[str] = ("raw",),
    *,
    analyze: bool = True,
) -> dict[str, int]:
    """Recreate every table of ``schemas`` of a DuckDB database in PostgreSQL, rows included.

    ``duckdb_path`` is a database file (opened read-only, so no other process may hold it
    open for writing) or an open DuckDB connection. A table with other columns is dropped
    (CASCADE) and created again with mapped column types, one with the same columns emptied,
    all in one transaction. Returns ``{"schema.table": rows}``; raises when PostgreSQL received a different count.
    """
    import duckdb

    settings = _as_settings(pg_settings)
    if isinstance(duckdb_path, duckdb.DuckDBPyConnection):
        duck_ctx: contextlib.AbstractContextManager = contextlib.nullcontext(duckdb_path)
    else:
        path = Path(duckdb_path)
        if not path.is_file():
            raise FileNotFoundError(f"DuckDB database {path} does not exist")
        duck_ctx = contextlib.closing(duckdb.connect(str(path), read_only=True))
    with duck_ctx as duck:
        tables = []
        for schema in dict.fromkeys(schemas):
            found = duck.execute(
                "SELECT count(*) FROM duckdb_schemas() WHERE database_name = current_database() AND schema_name = ?",
                [schema],
            ).fetchone()[0]
            if not found:
                raise ValueError(f"DuckDB database has no schema {schema!r}")
            tables += [
                TableCopy(schema, r[0])
                for r in duck.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                    "AND schema_name = ? AND NOT temporary ORDER BY table_name",
                    [schema],
                ).fetchall()
            ]
        return copy_to_postgres(duck, settings.connect_kwargs(), tables, analyze=analyze)


# --------------------------------------------------------------------------- dbt


def dbt_executable() -> Path:
    """The repository's dbt (.venv/bin/dbt), else the one beside this interpreter, else PATH."""
    for candidate in (REPO_ROOT / ".venv" / "bin" / "dbt", Path(sys.executable).parent / "dbt"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("dbt")
    if found:
        return Path(found)
    raise FileNotFoundError(f"no dbt executable in {REPO_ROOT / '.venv' / 'bin'}, beside {sys.executable} or on PATH")


RUN_ENV_KEYS = ("CEW_RUN_DATE", "CEW_RUN_START_DATE")


def run_dbt(
    args: Sequence[str],
    env_overrides: Mapping[str, str | None] | None = None,
    *,
    target_path: str | os.PathLike | None = None,
    log_path: str | os.PathLike | None = None,
    timeout: float = 1800,
) -> subprocess.CompletedProcess:
    """Run ``dbt <args>`` in dbt_project/ with ``--profiles-dir <repo root>``; never raises on failure.

    ``env_overrides`` are applied over the current environment (``None`` removes a
    variable); the run's days (``CEW_RUN_DATE``, ``CEW_RUN_START_DATE``) come only from them.
    ``target_path``/``log_path`` keep artefacts out of dbt_project/ (pass a temporary folder:
    runs of other people or tests do not collide). The returned
    process has ``stdout``/``stderr`` as text.
    """
    env = dict(os.environ)
    env.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", DBT_USE_COLORS="false", PYTHONUNBUFFERED="1")
    # a run's days, left behind by an in-process pipeline run, apply only when asked for
    for key in RUN_ENV_KEYS:
        env.pop(key, None)
    for key, value in (env_overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    cmd = [str(dbt_executable()), *map(str, args)]
    cmd += ["--profiles-dir", str(REPO_ROOT), "--project-dir", str(DBT_PROJECT_DIR)]
    if target_path is not None:
        cmd += ["--target-path", str(target_path)]
        _seed_partial_parse(Path(target_path))
    if log_path is not None:
        cmd += ["--log-path", str(log_path)]
    return subprocess.run(
        cmd, cwd=DBT_PROJECT_DIR, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


def _seed_partial_parse(target_path: Path) -> None:
    """Start a fresh target folder from the project's parse, as dagster-dbt does: dbt then
    re-parses only what differs (about 3 s) instead of the whole project (about 20 s)."""
    from orchestration.dbt.project import prepare_manifest

    saved = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    copy = target_path / "partial_parse.msgpack"
    if not copy.exists():
        prepare_manifest()  # a no-op when the project's parse is up to date
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copy(saved, copy)


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def dbt_run_results(target_path: str | os.PathLike) -> list[dict]:
    return _load_json(Path(target_path) / "run_results.json").get("results", [])


def manifest_models(target_path: str | os.PathLike, project: str = "customer_engagement") -> set[str]:
    """unique_ids of the project's enabled, non-ephemeral models in target/manifest.json."""
    nodes = _load_json(Path(target_path) / "manifest.json").get("nodes", {})
    return {
        uid
        for uid, node in nodes.items()
        if node.get("resource_type") == "model"
        and node.get("package_name") == project
        and node.get("config", {}).get("materialized") != "ephemeral"
    }


def built_models(target_path: str | os.PathLike) -> set[str]:
    """unique_ids of the models run_results.json reports as built successfully."""
    return {
        r["unique_id"]
        for r in dbt_run_results(target_path)
        if r.get("unique_id", "").startswith("model.") and r.get("status") == "success"
    }


def dbt_failures(target_path: str | os.PathLike) -> list[str]:
    """One line per node that errored or failed: ``<unique_id> [<status>]: <error>`` (skips not included)."""
    out = []
    for r in dbt_run_results(target_path):
        if r.get("status") in ("success", "pass", "warn", "no-op", "skipped"):
            continue
        message = " ".join((r.get("message") or "").split())
        out.append(f"{r.get('unique_id')} [{r.get('status')}]: {message}")
    return out


def dbt_skipped(target_path: str | os.PathLike) -> list[str]:
    """unique_ids dbt skipped (downstream of a failure)."""
    return [r["unique_id"] for r in dbt_run_results(target_path) if r.get("status") == "skipped"]


def describe_dbt_run(proc: subprocess.CompletedProcess, target_path: str | os.PathLike, tail: int = 25) -> str:
    """A failure report: the failing nodes and their errors, what was skipped, the end of dbt's output."""
    failures = dbt_failures(target_path)
    skipped = dbt_skipped(target_path)
    lines = [f"`dbt {proc.args[1] if len(proc.args) > 1 else ''}` exited with {proc.returncode}"]
    if failures:
        lines.append(f"{len(failures)} node(s) failed:")
        lines += [f"  {f}" for f in failures]
    if skipped:
        models = [u for u in skipped if u.startswith("model.")]
        lines.append(
            f"{len(skipped)} node(s) skipped because of them, {len(models)} model(s): "
            + (", ".join(u.split(".")[-1] for u in models) or "-")
        )
    output = (proc.stdout or "") + (proc.stderr or "")
    lines.append(f"--- last {tail} lines of dbt output ---")
    lines += output.rstrip().splitlines()[-tail:]
    return "\n".join(lines)
