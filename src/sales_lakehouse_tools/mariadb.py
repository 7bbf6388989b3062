"""A throwaway MariaDB server: its own data folder, socket and port on 127.0.0.1.

For the tests (``tests/oltp``) and the extract benchmark (``python -m bench.oltp``):
Debian's ``mariadb-server`` (``mariadbd``, ``mariadb-install-db``), started with no
configuration file of the machine's (``--no-defaults``), stopped when the block ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sales_lakehouse.oltp.dsn import Dsn

USER, PASSWORD = "lake", "lake-pw"


class ServerMissingError(RuntimeError):
    """mariadbd or mariadb-install-db is not installed."""


def binary(name: str) -> str | None:
    """A server program on PATH or in /usr/sbin, /usr/bin (not on a non-root PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = (Path("/usr/sbin") / name, Path("/usr/bin") / name)
    return next((str(path) for path in candidates if path.exists()), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    port: int
    socket: str
    log: Path

    def root(self, database: str | None = None) -> Any:
        """A root connection over the socket (autocommit)."""
        import pymysql

        return pymysql.connect(
            unix_socket=self.socket, user="root", database=database, autocommit=True
        )

    def create_database(self, name: str) -> Dsn:
        """A new database the ``lake`` user owns, as a DSN over TCP."""
        with self.root() as db, db.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
            cursor.execute(f"GRANT ALL ON {name}.* TO '{USER}'@'%'")
        return Dsn(USER, PASSWORD, "127.0.0.1", self.port, name)

    def drop_database(self, name: str) -> None:
        with self.root() as db, db.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")


@contextmanager
def throwaway_server(folder: Path, *, buffer_pool: str = "64M") -> Iterator[Server]:
    """Install a new data folder under ``folder``, start the server, yield it, stop it."""
    server, install = binary("mariadbd"), binary("mariadb-install-db")
    if server is None or install is None:
        raise ServerMissingError(
            "no MariaDB server (mariadbd, mariadb-install-db): `make test` installs Debian's "
            "mariadb-server as root; otherwise `apt-get install mariadb-server`"
        )
    folder = folder.resolve()
    data, sock, log = folder / "data", folder / "mysqld.sock", folder / "server.log"
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    installed = subprocess.run(
        [install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=socket",
         "--skip-test-db", *as_root],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if installed.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed: {installed.stderr.strip()[-2000:]}")
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [server, "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
             "--bind-address=127.0.0.1", "--skip-name-resolve",
             f"--innodb-buffer-pool-size={buffer_pool}", "--innodb-flush-log-at-trx-commit=2",
             f"--pid-file={folder / 'mysqld.pid'}", *as_root],
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
    import pymysql

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
