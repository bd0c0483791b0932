"""A small database layer: one code path for SQLite (default, works out of the box) and PostgreSQL
(psycopg 3, the `postgres` extra). SQL is written once with `?` placeholders; the PostgreSQL side turns them
into `%s`. Dialect differences live only in `schema.py` (identity columns, BLOB vs BYTEA).

URLs::

    clearing.sqlite                         a file path (SQLite)
    sqlite:///var/lib/ykt/clearing.sqlite   the same as a URL; sqlite:///:memory: for tests
    postgresql://ykt@127.0.0.1:5432/clearing?options=-csearch_path%3Dclearing

Every method is thread-safe (one connection behind a lock: the service runs its handlers in a thread pool,
and SQLite has one writer anyway).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import StorageError

Row = tuple[Any, ...]


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str) -> str:
    """The file (or `:memory:`) of a SQLite URL or plain path."""
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):] or ":memory:"
    if url.startswith("sqlite://"):
        raise StorageError(f"{url}: write sqlite:///PATH (three slashes) or a plain path")
    return url


class Database:
    """An open clearing database. `dialect` is "sqlite" or "postgres"."""

    def __init__(self, conn: Any, dialect: str, url: str) -> None:
        self._conn = conn
        self.dialect = dialect
        self.url = url
        self._lock = threading.RLock()
        self._depth = 0
        if dialect == "postgres":
            import psycopg

            self.IntegrityError: tuple[type[BaseException], ...] = (psycopg.IntegrityError,)
        else:
            self.IntegrityError = (sqlite3.IntegrityError,)

    def __repr__(self) -> str:
        return f"Database({self.dialect}, {redact(self.url)!r})"

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(cls, url: str | Path, *, create: bool = True,
             schema: Callable[..., None] | None = None) -> Database:
        """Open (and with `create`, create the schema of) the database at `url`.

        `schema(db, create=…)` creates or checks the tables (default: the clearing schema); another service
        on the same storage layer (the insurance centre, terminal/centre) passes its own."""
        from .schema import ensure_schema

        text = str(url)
        if _is_postgres(text):
            try:
                import psycopg
            except ImportError:
                raise StorageError("PostgreSQL needs psycopg: pip install 'yikatong[postgres]'") from None
            try:
                conn = psycopg.connect(text, autocommit=True)
            except psycopg.Error as exc:
                raise StorageError(f"cannot connect to {redact(text)}: {str(exc).strip()}") from None
            db = cls(conn, "postgres", text)
        else:
            path = sqlite_path(text)
            if path != ":memory:":
                if not create and not Path(path).exists():
                    raise StorageError(f"no clearing database at {path}; start `ykt clearing serve --db {path}` once")
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")  # an acknowledged batch survives power loss
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA cache_size=-262144")  # 256 MiB of page cache: the indexes of millions of rows
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"{path}: not a usable SQLite database ({exc})") from None
            db = cls(conn, "sqlite", text)
        try:
            (schema or ensure_schema)(db, create=create)
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- statements
    def _sql(self, sql: str) -> str:
        if self.dialect == "postgres":
            return sql.replace("%", "%%").replace("?", "%s")
        return sql

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One database transaction (SQLite: BEGIN IMMEDIATE, a single writer). Nested calls join it."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            self._depth = 1
            try:
                yield self
                self._conn.execute("COMMIT")
            except BaseException:
                try:
                    self._conn.execute("ROLLBACK")
                except Exception:  # the connection itself failed: nothing more to undo here
                    pass
                raise
            finally:
                self._depth = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        with self._lock:
            cur = self._conn.execute(self._sql(sql), tuple(params))
            return cur.rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            rows = list(rows)
            if not rows:
                return
            if self.dialect == "postgres":
                with self._conn.cursor() as cur:
                    cur.executemany(self._sql(sql), rows)
            else:
                self._conn.executemany(sql, rows)

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Plain INSERT of many rows (no ON CONFLICT: a constraint violation raises IntegrityError, as one
        INSERT per row would). PostgreSQL: one COPY FROM STDIN (a bulk load, constraints and unique indexes
        checked as for INSERT); SQLite: executemany of one prepared INSERT."""
        if not rows:
            return
        names = ", ".join(columns)
        with self._lock:
            if self.dialect == "postgres":
                with self._conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    write = copy.write_row
                    for row in rows:
                        write(row)
            else:
                self._conn.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            cur = self._conn.execute(self._sql(sql), tuple(params))
            return [tuple(r) for r in cur.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = (), default: Any = None) -> Any:
        row = self.one(sql, params)
        return default if row is None or row[0] is None else row[0]

    def script(self, statements: Iterable[str]) -> None:
        for sql in statements:
            self.execute(sql)


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url
