"""Engine and sessions: one engine per app, SQLite tuned on connect, migrations applied by Alembic."""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, Executable, Result, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from service.errors import Busy

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock keys of review state: this namespace in the high bits, the project id
# in the low 32 (ids stay far below 2**32).
REVIEW_LOCK_NAMESPACE = 0x6178 << 32
# SQLSTATEs of a transaction PostgreSQL rolled back so that it may be retried.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
T = TypeVar("T")


SQLITE_BUSY_S = 30.0  # how long a SQLite writer waits for its turn
SQLITE_POOL = 20  # SQLite connections kept open (as many again may open for a burst)


def make_engine(url: str) -> Engine:
    """Build the engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_S},
            # a connection for every request in flight: with SQLAlchemy's default (5 + 10
            # overflow) the sixteenth waited in the pool and each checkin woke a waiter
            pool_size=SQLITE_POOL,
            max_overflow=SQLITE_POOL,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_S * 1000)}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def alembic_config(url: str) -> Config:
    # Alembic (and Mako, Pygments) only when migrating: the CLI's database commands start faster.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# The newest migration's revision (tests/service/test_migrations.py checks it against Alembic's
# head): a database already there is not handed to Alembic at all.
HEAD_REVISION = "0005"


def at_head(engine: Engine) -> bool:
    """Whether the database's ``alembic_version`` holds exactly ``HEAD_REVISION``."""
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            return versions.all() == [HEAD_REVISION]
    except DBAPIError:  # no such table yet: a new database
        return False


def upgrade(engine: Engine) -> None:
    """Apply every Alembic migration to the database behind ``engine``.

    A database at ``HEAD_REVISION`` is left alone after one read (0.3 ms on SQLite): every app
    and CLI command starts with this, and Alembic's own check at head costs 40 ms once it is
    imported (it reads every migration script), plus its import in a fresh process.
    """
    if at_head(engine):
        return
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A savepoint inside the session's transaction: an error inside rolls back to it only.

    pysqlite (Python's sqlite3 in its default mode) sends BEGIN only before a write, so a
    SAVEPOINT taken before any write opens the outermost transaction itself, and its RELEASE
    commits: whatever the request does afterwards could no longer be rolled back. On SQLite
    a write that changes nothing comes first, so the enclosing transaction has begun.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 0"))
    with session.begin_nested():
        yield


def read(
    session: Session, statement: Executable, params: Mapping[str, Any] | None = None
) -> Result[*tuple[Any, ...]]:
    """A Core read on the session's connection, in its transaction: rows, no ORM objects.

    For the review reads every request makes: ``statement`` is built once (at import, with
    ``bindparam``s, so SQLAlchemy neither rebuilds it nor recomputes its cache key) and runs
    without the ORM's per-statement work, about a fifth of the CPU of ``session.execute`` on a
    statement built per call. Pending ORM changes are flushed first, as ``session.execute``
    would (autoflush), so the read sees the request's own writes.
    """
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    return session.connection().execute(statement, dict(params or {}))


def write(
    session: Session, statement: Executable, params: Mapping[str, Any] | None = None
) -> Result[*tuple[Any, ...]]:
    """:func:`read` for a Core ``UPDATE``/``INSERT`` built once: pending ORM changes flushed
    first; the caller brings any object the session holds up to date with what it changed."""
    return read(session, statement, params)


def lock_review_state(session: Session, project_id: int) -> None:
    """Make the session the only writer of the project's review state until it ends.

    Every review action, undo and rebuild takes this lock first, before it reads the state it
    validates, so writers of a project's projection queue up in one place instead of taking row
    locks in different orders (the deadlocks of issue #15). PostgreSQL: a transaction-scoped
    advisory lock per project (``pg_advisory_xact_lock``), released at commit or rollback; other
    projects are not held up. SQLite: a write that changes nothing, which opens the transaction
    and takes SQLite's one write lock at once (``BEGIN IMMEDIATE`` in effect; pysqlite would
    otherwise begin only at the first real write, after the reads).
    """
    if session.get_bind().dialect.name == "postgresql":
        key = REVIEW_LOCK_NAMESPACE | int(project_id)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        _queue_for_sqlite_writes(session)
        session.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 0"))


_SQLITE_WRITERS: dict[str, threading.Lock] = {}
_SQLITE_WRITERS_GUARD = threading.Lock()
_HOLDS_WRITERS = "axial_sqlite_writers_lock"  # session.info: the lock this transaction holds
_LISTENS = "axial_sqlite_writers_listener"


def _queue_for_sqlite_writes(session: Session) -> None:
    """Review writers of one SQLite file wait for their turn before they ask SQLite for its
    write lock: in a Python lock (held until their transaction ends) within a process, then in
    an exclusive ``flock`` of a file beside the database (``<db>-writers.lock``) across the
    processes serving it (``axial serve --processes N``).

    SQLite's busy handler polls a held lock with sleeps of up to 100 ms, so a writer can
    sleep on a lock freed long before, and a newcomer can take it first: the tail of
    issue #15's load test. In the Python lock a waiter is woken when the lock is released; the
    one waiter per process polls the file lock every millisecond. Runs being stored still meet
    SQLite's own lock.
    """
    if session.info.get(_HOLDS_WRITERS):
        return  # this transaction holds it already (an undo that rebuilds)
    url = session.get_bind().engine.url
    with _SQLITE_WRITERS_GUARD:
        lock = _SQLITE_WRITERS.setdefault(str(url), threading.Lock())
    if not session.info.get(_LISTENS):
        event.listen(session, "after_transaction_end", _release_sqlite_writers)
        session.info[_LISTENS] = True
    deadline = time.monotonic() + SQLITE_BUSY_S  # as long as SQLite itself would wait
    if not lock.acquire(timeout=SQLITE_BUSY_S):
        raise _busy()
    fd = _writers_file(url.database)
    if fd is not None and not _flock(fd, deadline):
        lock.release()
        raise _busy()
    session.info[_HOLDS_WRITERS] = (lock, fd)


def _busy() -> Busy:
    return Busy(
        f"no turn to write to the database in {SQLITE_BUSY_S:.0f} s (concurrent writers); "
        "nothing was stored: try again",
        field=None,
    )


# (process id, database path) -> the process's own open lock file: a forked child opens its
# own (flock holds per open file, which a fork would share with the parent)
_WRITERS_FILES: dict[tuple[int, str], int] = {}


def _writers_file(database: str | None) -> int | None:
    """This process's descriptor of the database's writers' lock file (None: in memory)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    key = (os.getpid(), os.path.abspath(database))
    with _SQLITE_WRITERS_GUARD:
        fd = _WRITERS_FILES.get(key)
        if fd is None:
            fd = _WRITERS_FILES[key] = os.open(f"{key[1]}-writers.lock", os.O_RDWR | os.O_CREAT)
        return fd


def _flock(fd: int, deadline: float) -> bool:
    """Take the exclusive file lock, polling every millisecond until ``deadline``."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)


def _release_sqlite_writers(session: Session, transaction: Any) -> None:
    """The outermost transaction ended (commit, rollback or close): let the next writer in."""
    if transaction.parent is None:
        held = session.info.pop(_HOLDS_WRITERS, None)
        if held is not None:
            lock, fd = held
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            lock.release()


def is_retryable(exc: BaseException) -> bool:
    """A deadlock or serialization failure: the database rolled the transaction back, and
    running it again from the start may succeed."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    return getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def backoff_s(attempt: int, base_s: float = 0.01, cap_s: float = 0.2) -> float:
    """Full jitter: a random wait in ``[0, min(cap, base * 2**attempt)]`` seconds."""
    return random.uniform(0, min(cap_s, base_s * 2**attempt))


def retrying(work: Callable[[], T], attempts: int = 5) -> T:
    """Run ``work`` (one whole transaction) again after a retryable failure, with jittered
    backoff, at most ``attempts`` times; the last failure propagates."""
    for attempt in range(attempts):
        try:
            return work()
        except DBAPIError as exc:
            if not is_retryable(exc) or attempt == attempts - 1:
                raise
            time.sleep(backoff_s(attempt))
    raise AssertionError("unreachable")


class Database:
    """The engine plus a session factory; ``transaction()`` is the unit of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def upgrade(self) -> None:
        upgrade(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
