"""Print where zhoubao's database is, for deploy/backup.sh and deploy/restore.sh.

    python3 dbtarget.py --url URL        # any Python 3.11: the standard library only
    python3 dbtarget.py --config FILE    # zhoubao's Python: reads [storage] with load_config

The database comes from an SQLAlchemy URL, the same two kinds zhoubao accepts:
`postgresql+asyncpg://user@host:port/database` (also plain `postgresql://`) and
`sqlite+aiosqlite:///path/to/file.sqlite3`. With --config the URL is the configuration's
`storage.url` exactly as zhoubao resolves it (the default SQLite file under `data_dir`,
relative paths counted from the configuration file).

Output, one KEY=value per line, nothing quoted: `kind=postgresql` with `host`, `port`,
`user`, `dbname`, `sslmode` (any may be empty: libpq's defaults apply), or `kind=sqlite`
with `path` (absolute). The password is never printed: like zhoubao, pg_dump and
pg_restore take it from PGPASSWORD or ~/.pgpass. Exit code 2 with a message on stderr
when the URL or the configuration cannot be used.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

POSTGRES_SCHEMES = ("postgresql+asyncpg", "postgresql", "postgres")
SQLITE_SCHEMES = ("sqlite+aiosqlite", "sqlite")


class Unusable(Exception):
    """The database cannot be used for a backup; the message says why."""


def describe(url: str) -> dict[str, str]:
    """Return the KEY=value pairs for `url`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise Unusable(f"not a database URL: {url!r}")
    if scheme in SQLITE_SCHEMES:
        return _sqlite(rest)
    if scheme in POSTGRES_SCHEMES:
        return _postgres(url)
    raise Unusable(
        f"unsupported database URL scheme {scheme!r}; "
        "use postgresql+asyncpg://user@host/database or sqlite+aiosqlite:///path/to/file.sqlite3"
    )


def _sqlite(rest: str) -> dict[str, str]:
    # SQLAlchemy: sqlite:///relative/path and sqlite:////absolute/path; the part after the
    # third slash is the file name as written, without percent-decoding.
    if not rest.startswith("/"):
        raise Unusable("an SQLite URL starts with sqlite+aiosqlite:/// followed by the file")
    database = rest[1:].partition("?")[0]
    if not database or database == ":memory:" or database.startswith("file:"):
        raise Unusable("an SQLite database must be a file, e.g. sqlite+aiosqlite:///data/x.sqlite3")
    return {"kind": "sqlite", "path": os.path.abspath(database)}


def _postgres(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    if parts.password is not None:
        raise Unusable("the URL contains a password; put it in PGPASSWORD or ~/.pgpass instead")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    try:
        port = parts.port
    except ValueError:
        raise Unusable(f"bad port in {url!r}") from None
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise Unusable("the URL names no database, e.g. postgresql+asyncpg://zhoubao@host/zhoubao")
    ssl = query.get("sslmode") or query.get("ssl") or ""
    return {
        "kind": "postgresql",
        # ?host=/run/postgresql (a Unix socket directory) as asyncpg accepts it
        "host": query.get("host") or (parts.hostname or ""),
        "port": query.get("port") or (str(port) if port is not None else ""),
        "user": unquote(parts.username or ""),
        "dbname": dbname,
        "sslmode": "require" if ssl == "true" else ssl,
    }


def url_from_config(path: Path) -> str:
    """Return `storage.url` of the configuration at `path`, as zhoubao resolves it."""
    try:
        from bot.config import load_config
        from bot.errors import ConfigError
    except ImportError:
        raise Unusable(
            f"{sys.executable} cannot import zhoubao: set ZHOUBAO_PYTHON to zhoubao's Python "
            "(e.g. /opt/zhoubao/.venv/bin/python) or give --url"
        ) from None
    try:
        return load_config(path).storage.url
    except ConfigError as error:
        raise Unusable(str(error)) from None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="zhoubao's configuration file")
    source.add_argument("--url", help="the database URL")
    args = parser.parse_args(argv)
    try:
        url = args.url if args.url is not None else url_from_config(args.config)
        pairs = describe(url)
    except Unusable as error:
        print(f"{os.path.basename(sys.argv[0])}: {error}", file=sys.stderr)
        return 2
    for key, value in pairs.items():
        if "\n" in value:
            print(f"dbtarget.py: line break in {key}", file=sys.stderr)
            return 2
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
