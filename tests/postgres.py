"""A PostgreSQL server for tests and benchmarks: the one in SUPPORTNET_TEST_POSTGRES_URL, or a throwaway one.

The throwaway server is `initdb` + `pg_ctl start` in a temporary directory, listening on 127.0.0.1 only (no Unix
socket), on a free port, with durability switched off (fsync, synchronous_commit, full_page_writes): its data
lives only as long as the test run. PostgreSQL refuses to run as root, so when the tests run as root (CI) the
server runs as the `postgres` system user that Debian's `postgresql` package creates.

Tests get a fresh database per test, copied from a template database that migrations built once
(`CREATE DATABASE … TEMPLATE …` copies files: a few milliseconds).
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import queue
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

URL_VARIABLE = "SUPPORTNET_TEST_POSTGRES_URL"
REQUIRE_VARIABLE = "SUPPORTNET_REQUIRE_POSTGRES"

# Settings for a server whose data nobody needs after the run: speed over durability.
THROWAWAY_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "300",
    "shared_buffers": "128MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "timezone": "'UTC'",
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be reached or started; the message says why."""


@dataclass
class PostgresServer:
    """A server we may create and drop databases on, as a user with CREATEDB."""

    host: str
    port: int
    user: str
    password: str = ""
    admin_database: str = "postgres"
    data_dir: Path | None = None  # set when this process started the server
    pg_bin: Path | None = None
    owner: str | None = None
    _admin: object | None = field(default=None, repr=False)

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        """An SQLAlchemy URL (or, with driver="postgresql", a libpq URI) of a database on this server."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"{driver}://{auth}@{self.host}:{self.port}/{database}"

    def _connection(self):
        import psycopg

        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.url(self.admin_database, "postgresql"), autocommit=True)
        return self._admin

    def execute(self, sql: str) -> None:
        """Run one statement on the admin database, outside any transaction (CREATE/DROP DATABASE need that)."""
        self._connection().execute(sql)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database (a copy of `template` if given) and return its SQLAlchemy URL."""
        sql = f'CREATE DATABASE "{name}"'
        if template:
            # FILE_COPY copies the template's files (a checkpoint, cheap without fsync); the default WAL_LOG
            # writes every page to the WAL, slower for the many small tables of a migrated template.
            sql += f' TEMPLATE "{template}"'
            if self._connection().info.server_version >= 150000:
                sql += " STRATEGY FILE_COPY"
        self.execute(sql)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections a test left open on it."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def stop(self) -> None:
        """Close the admin connection; stop and delete the server if this process started it."""
        self.close()
        if self.data_dir is None:
            return
        data_dir, self.data_dir = self.data_dir, None
        stop = [str(self.pg_bin / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "immediate", "-s"]
        _run(stop, self.owner, check=False)
        shutil.rmtree(data_dir.parent, ignore_errors=True)


class DatabaseCopies:
    """Fresh copies of a template database, made ahead of time by a background thread.

    CREATE DATABASE … TEMPLATE takes a few tens of milliseconds, hundreds on a busy machine; made while the
    previous test runs, the copy is ready when the next test asks. Used copies are dropped in the background too.
    """

    def __init__(self, server: PostgresServer, template: str, ahead: int = 2) -> None:
        # The thread has a server object (and so an admin connection) of its own.
        self._server = PostgresServer(server.host, server.port, server.user, server.password, server.admin_database)
        self._template = template
        self._ready: queue.Queue[tuple[str, str] | BaseException] = queue.Queue(maxsize=ahead)
        self._used: queue.Queue[str | None] = queue.Queue()
        self._numbers = itertools.count(1)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name="postgres-copies", daemon=True)
        self._thread.start()

    def take(self) -> tuple[str, str]:
        """The name and SQLAlchemy URL of a database nobody has used yet."""
        item = self._ready.get(timeout=120)
        if isinstance(item, BaseException):
            raise PostgresUnavailable(f"could not copy the template database: {item}") from item
        return item

    def give_back(self, name: str) -> None:
        """Drop this copy (in the background)."""
        self._used.put(name)

    def close(self) -> None:
        """Stop making copies, and drop every copy made and not yet dropped."""
        self._stopping.set()
        self._used.put(None)
        self._thread.join(timeout=120)
        while True:
            try:
                item = self._ready.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, BaseException):
                self._server.drop_database(item[0])
        self._server.close()

    def _drop_used(self, wait: float) -> None:
        try:
            name = self._used.get(timeout=wait)
        except queue.Empty:
            return
        while name is not None:
            self._server.drop_database(name)
            try:
                name = self._used.get_nowait()
            except queue.Empty:
                return

    def _work(self) -> None:
        pending: tuple[str, str] | None = None
        while not self._stopping.is_set():
            try:
                if pending is None:
                    name = f"{self._template}_t{next(self._numbers)}"
                    pending = (name, self._server.create_database(name, template=self._template))
                self._ready.put(pending, timeout=0.05)
                pending = None
            except queue.Full:
                self._drop_used(wait=0.05)
            except Exception as exc:
                self._ready.put(exc)
                return
        self._drop_used(wait=0)
        if pending is not None:
            self._server.drop_database(pending[0])


def unique_name(prefix: str) -> str:
    """A database name nobody else on the server uses (several test runs may share a server)."""
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"


def find_pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<newest>/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return candidates[-1].parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runuser() -> str | None:
    found = shutil.which("runuser")
    return found or next((p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.path.exists(p)), None)


def _run(argv: list[str], owner: str | None, check: bool = True) -> subprocess.CompletedProcess:
    if owner is not None:
        argv = [_runuser() or "runuser", "-u", owner, "--", *argv]
    # From /: the server's user may not be allowed into the caller's directory (a checkout under /root, say).
    result = subprocess.run(argv, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, cwd="/")
    if check and result.returncode != 0:
        raise PostgresUnavailable(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr or result.stdout}")
    return result


def _server_owner() -> str | None:
    """Who runs the server: ourselves, or (as root, which PostgreSQL refuses) the `postgres` system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailable(
            "running as root and there is no `postgres` user to run PostgreSQL as "
            "(apt-get install postgresql creates it)"
        ) from exc
    if _runuser() is None:
        raise PostgresUnavailable("running as root and `runuser` (util-linux) is missing")
    return "postgres"


def start_throwaway(pg_bin: Path | None = None, settings: dict[str, str] | None = None) -> PostgresServer:
    """initdb a temporary cluster and start it on 127.0.0.1 and a free port; stopped at exit at the latest."""
    pg_bin = pg_bin or find_pg_bin()
    if pg_bin is None:
        raise PostgresUnavailable(
            f"no initdb/pg_ctl on PATH or under /usr/lib/postgresql (apt-get install postgresql), and {URL_VARIABLE} "
            "is not set"
        )
    owner = _server_owner()
    base = Path(tempfile.mkdtemp(prefix="supportnet-pg-"))
    base.chmod(0o755)
    data_dir = base / "data"
    if owner is not None:
        record = pwd.getpwnam(owner)
        os.chown(base, record.pw_uid, record.pw_gid)
    try:
        _run(
            [str(pg_bin / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--no-locale", "--no-sync", "--no-instructions"],
            owner,
        )
        with (data_dir / "postgresql.conf").open("a") as conf:
            for key, value in {**THROWAWAY_SETTINGS, **(settings or {})}.items():
                conf.write(f"{key} = {value}\n")
        for _attempt in range(3):
            port = _free_port()
            started = _run(
                [str(pg_bin / "pg_ctl"), "start", "-D", str(data_dir), "-l", str(base / "server.log"),
                 "-o", f"-p {port}", "-w", "-t", "60", "-s"],
                owner,
                check=False,
            )
            if started.returncode == 0:
                break
            time.sleep(0.2)
        else:
            log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
            raise PostgresUnavailable(f"pg_ctl start failed: {started.stderr}{log[-2000:]}")
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    server = PostgresServer("127.0.0.1", port, "postgres", data_dir=data_dir, pg_bin=pg_bin, owner=owner)
    atexit.register(server.stop)
    return server


def from_url(url: str) -> PostgresServer:
    """The server named by a URL like postgresql://user:password@host:5432/postgres (any driver prefix)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return PostgresServer(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password or "",
        admin_database=parsed.database or "postgres",
    )


def connect_or_start() -> PostgresServer:
    """The server in SUPPORTNET_TEST_POSTGRES_URL if set, else a throwaway one; PostgresUnavailable says why not."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise PostgresUnavailable("psycopg is not installed (pip install -r requirements.txt)") from exc
    url = os.environ.get(URL_VARIABLE, "").strip()
    server = from_url(url) if url else start_throwaway()
    try:
        server.execute("SELECT 1")
    except Exception as exc:
        server.stop()
        raise PostgresUnavailable(f"cannot connect to PostgreSQL at {server.host}:{server.port}: {exc}") from exc
    return server


def required() -> bool:
    """SUPPORTNET_REQUIRE_POSTGRES=1: a missing PostgreSQL is a failure, not a skip."""
    return os.environ.get(REQUIRE_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}
