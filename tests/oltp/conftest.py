"""A throwaway MariaDB server for the order-database tests: its own data folder, socket and
port on 127.0.0.1, started once for the session and stopped at the end.

``make test`` installs Debian's ``mariadb-server`` when it is missing and it can (root with
apt-get, as in CI). Where the server is not installed, these tests are skipped with the
reason; with ``CI=true`` they fail instead, never skip.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from sales_lakehouse.oltp.dsn import Dsn
from sales_lakehouse_tools.mariadb import Server, ServerMissingError, throwaway_server

_databases = itertools.count(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "oltp" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.oltp)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    try:
        with throwaway_server(tmp_path_factory.mktemp("mariadb")) as server:
            yield server
    except ServerMissingError as missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: the order-database tests must run, but {missing}")
        pytest.skip(str(missing))


@pytest.fixture
def dsn(mariadb: Server) -> Iterator[Dsn]:
    """A new, empty database the ``lake`` user owns, dropped after the test."""
    name = f"shop_{next(_databases)}"
    yield mariadb.create_database(name)
    mariadb.drop_database(name)


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
