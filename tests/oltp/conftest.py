"""A throwaway MariaDB server for the order-database tests: its own data folder, socket and
port on 127.0.0.1, started once for the session and stopped at the end.

``make test`` installs Debian's ``mariadb-server`` when it is missing and it can (root with
apt-get, as in CI). Where the server is not installed, these tests are skipped with the
reason; with ``CI=true`` they fail instead, never skip.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from sales_lakehouse.oltp.dsn import Dsn

USER, PASSWORD = "lake", "lake-pw"
_databases = itertools.count(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "oltp" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.oltp)


def _binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    port: int
    socket: str
    log: Path

    def root(self, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(
            unix_socket=self.socket, user="root", database=database, autocommit=True
        )


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server, install = _binary("mariadbd"), _binary("mariadb-install-db")
    if server is None or install is None:
        reason = (
            "no MariaDB server (mariadbd, mariadb-install-db): `make test` installs Debian's "
            "mariadb-server as root; otherwise `apt-get install mariadb-server`"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: the order-database tests must run, but {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("mariadb")
    data, sock, log = root / "data", root / "mysqld.sock", root / "server.log"
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=socket",
         "--skip-test-db", *as_root],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [server, "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
             "--bind-address=127.0.0.1", "--skip-name-resolve", "--innodb-buffer-pool-size=64M",
             "--innodb-flush-log-at-trx-commit=2", f"--pid-file={root / 'mysqld.pid'}", *as_root],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    instance = Server(port, str(sock), log)
    try:
        _wait_ready(instance, process)
        with instance.root() as db, db.cursor() as cursor:
            cursor.execute(f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
        yield instance
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_ready(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mariadbd exited: {server.log.read_text()[-2000:]}")
        try:
            server.root().close()
            return
        except pymysql.MySQLError:
            time.sleep(0.2)
    raise RuntimeError(f"mariadbd not ready in 60 s: {server.log.read_text()[-2000:]}")


@pytest.fixture
def dsn(mariadb: Server) -> Iterator[Dsn]:
    """A new, empty database the ``lake`` user owns, dropped after the test."""
    name = f"shop_{next(_databases)}"
    with mariadb.root() as db, db.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
        cursor.execute(f"GRANT ALL ON {name}.* TO '{USER}'@'%'")
    yield Dsn(USER, PASSWORD, "127.0.0.1", mariadb.port, name)
    with mariadb.root() as db, db.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")


def query(dsn: Dsn, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Rows of ``sql`` read straight from the database (PyMySQL): the tests' oracle."""
    with pymysql.connect(
        host=dsn.host, port=dsn.port, user=dsn.user, password=dsn.password,
        database=dsn.database, init_command="SET time_zone = '+00:00'",
    ) as db, db.cursor() as cursor:  # fmt: skip
        cursor.execute(sql, args)
        return [tuple(row) for row in cursor.fetchall()]


def execute(dsn: Dsn, *statements: str) -> None:
    with pymysql.connect(
        host=dsn.host, port=dsn.port, user=dsn.user, password=dsn.password,
        database=dsn.database, autocommit=True,
    ) as db, db.cursor() as cursor:  # fmt: skip
        for statement in statements:
            cursor.execute(statement)
