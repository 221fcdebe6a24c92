"""SQLite review writers of one process queue in a Python lock held until their transaction ends.

``lock_review_state`` on SQLite takes a per-database ``threading.Lock`` before SQLite's write
lock (SQLite's busy handler polls with sleeps of up to 100 ms; the Python lock wakes the next
writer at once). These tests check that a second writer waits for the first one's commit or
rollback, not longer, and that one transaction taking the lock twice (an undo that rebuilds)
does not wait for itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.errors import Busy
from service.storage import db as db_module
from service.storage.db import Database, lock_review_state

WAIT_S = 10.0  # generous: the writer is woken at the other's commit, long before this


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'writers.db'}")
    db.upgrade()
    yield db
    db.dispose()


def _second_writer(database: Database, entered: threading.Event, done: threading.Event) -> None:
    with database.transaction() as session:
        lock_review_state(session, 1)
        entered.set()
    done.set()


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_a_second_writer_waits_until_the_first_transaction_ends(
    database: Database, ending: str
) -> None:
    entered, done = threading.Event(), threading.Event()
    second = threading.Thread(target=_second_writer, args=(database, entered, done))
    failing = pytest.raises(RuntimeError) if ending == "rollback" else contextlib.nullcontext()
    with failing, database.transaction() as session:
        lock_review_state(session, 1)
        second.start()
        assert not entered.wait(0.3), "the second writer got in while the first held it"
        if ending == "rollback":
            raise RuntimeError("the first writer fails")
    assert entered.wait(WAIT_S), f"the second writer still waits after the first's {ending}"
    second.join(WAIT_S)
    assert done.is_set()


def test_one_transaction_may_take_the_lock_twice(database: Database) -> None:
    finished = threading.Event()

    def twice() -> None:
        with database.transaction() as session:
            lock_review_state(session, 1)
            lock_review_state(session, 1)  # an undo falling back to a rebuild
        finished.set()

    thread = threading.Thread(target=twice)
    thread.start()
    thread.join(WAIT_S)
    assert finished.is_set(), "a transaction waited for its own lock"
    with database.transaction() as session:  # and it was released
        lock_review_state(session, 1)


def test_a_writer_that_gets_no_turn_is_told_busy(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer that waits out the turn answers the API's 409 "busy", not an unhandled error.
    monkeypatch.setattr(db_module, "SQLITE_BUSY_S", 0.2)
    outcome: list[BaseException] = []

    def late() -> None:
        try:
            with database.transaction() as session:
                lock_review_state(session, 1)
        except BaseException as exc:
            outcome.append(exc)

    with database.transaction() as session:
        lock_review_state(session, 1)
        thread = threading.Thread(target=late)
        thread.start()
        thread.join(WAIT_S)
    assert len(outcome) == 1 and isinstance(outcome[0], Busy)
    assert (outcome[0].status, outcome[0].code) == (409, "busy")


def test_a_writer_waits_for_another_process_holding_the_lock_file(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process serving the same file (``axial serve --processes N``) holds the writers'
    # lock file: an exclusive flock of another open file, as that process's would be.
    other = os.open(tmp_path / "writers.db-writers.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)
    entered, done = threading.Event(), threading.Event()
    writer = threading.Thread(target=_second_writer, args=(database, entered, done))
    writer.start()
    assert not entered.wait(0.3), "the writer got in while another process held the file lock"
    fcntl.flock(other, fcntl.LOCK_UN)
    assert entered.wait(WAIT_S), "the writer still waits after the other process let go"
    writer.join(WAIT_S)
    assert done.is_set()
    # Held again past the turn: busy, and this process's queue is free for the next writer.
    fcntl.flock(other, fcntl.LOCK_EX)
    monkeypatch.setattr(db_module, "SQLITE_BUSY_S", 0.2)
    with pytest.raises(Busy), database.transaction() as session:
        lock_review_state(session, 1)
    fcntl.flock(other, fcntl.LOCK_UN)
    os.close(other)
    with database.transaction() as session:
        lock_review_state(session, 1)
