"""Where the order database is: ``mysql://USER:PASSWORD@HOST[:PORT]/DATABASE``.

The same string serves the fill service (PyMySQL) and the extract (Spark JDBC). The
password may be percent-encoded (``p%40ss`` for ``p@ss``); it never appears in a message
(:meth:`Dsn.redacted`). On AWS the credentials live in Secrets Manager instead: the DSN is
then ``mysql://HOST:PORT/DATABASE`` and :mod:`sales_lakehouse.oltp.secret` fills in the
user and password.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit

ENV = "SALES_LAKEHOUSE_OLTP_DSN"
DEFAULT_PORT = 3306
# The MariaDB Connector/J driver class. It serves MySQL and MariaDB servers alike; the URL
# keeps the jdbc:mysql: scheme (with permitMysqlScheme) so that Spark applies its MySQL
# dialect: under jdbc:mariadb: Spark quotes columns with double quotes, which MySQL reads
# as string literals ("updated_at" cannot be decoded as Timestamp).
JDBC_DRIVER = "org.mariadb.jdbc.Driver"


@dataclass(frozen=True)
class Dsn:
    user: str
    password: str
    host: str
    port: int
    database: str

    @classmethod
    def parse(cls, text: str | None = None, *, credentials: bool = True) -> Dsn:
        """Parse ``text`` (default: ``$SALES_LAKEHOUSE_OLTP_DSN``); ValueError when malformed.

        With ``credentials=False`` the user may be missing (it comes from a secret).
        """
        text = text or os.environ.get(ENV, "")
        if not text:
            raise ValueError(f"no database given: pass --dsn or set ${ENV}")
        parts = urlsplit(text)
        if parts.scheme not in ("mysql", "mariadb"):
            raise ValueError(
                "the DSN must look like mysql://USER:PASSWORD@HOST:PORT/DATABASE "
                f"(scheme {parts.scheme or 'missing'!r})"
            )
        database = parts.path.lstrip("/")
        if (
            not parts.hostname
            or (credentials and not parts.username)
            or not database
            or "/" in database
        ):
            raise ValueError(
                "the DSN must look like mysql://USER:PASSWORD@HOST:PORT/DATABASE "
                f"(got {_redact(text)})"
            )
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise ValueError(f"the DSN's port is not a number ({_redact(text)})") from None
        return cls(
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            host=parts.hostname,
            port=port,
            database=database,
        )

    def with_credentials(self, user: str, password: str) -> Dsn:
        return replace(self, user=user, password=password)

    @property
    def jdbc_url(self) -> str:
        return (
            f"jdbc:mysql://{self.host}:{self.port}/{self.database}"
            "?permitMysqlScheme&connectTimeout=10000"
        )

    def jdbc_properties(self) -> dict[str, str]:
        return {"user": self.user, "password": self.password, "driver": JDBC_DRIVER}

    def redacted(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


def _redact(text: str) -> str:
    parts = urlsplit(text)
    if parts.password is None:
        return text
    return text.replace(f":{parts.password}@", ":***@", 1)
