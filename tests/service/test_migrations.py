"""``upgrade`` at start: a new or older database is migrated, one at head is only read."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from service.storage.db import HEAD_REVISION, Database, alembic_config, at_head


def test_head_revision_is_alembics_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [HEAD_REVISION], (
        "a new migration: set service.storage.db.HEAD_REVISION to its revision"
    )


def test_a_database_at_head_is_left_as_it_is(db_url: str) -> None:
    # db_url is migrated once per session and copied (tests/conftest.py)
    database = Database(db_url)
    assert at_head(database.engine)
    database.upgrade()  # a no-op at head
    assert at_head(database.engine)
    database.dispose()


def test_a_database_one_migration_behind_is_upgraded(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    assert not at_head(engine)  # no alembic_version table at all
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    assert not at_head(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("proposal_state")}
    assert "claimed_by_actor" not in columns
    engine.dispose()
    database = Database(url)
    database.upgrade()
    assert at_head(database.engine)
    columns = {c["name"] for c in inspect(database.engine).get_columns("proposal_state")}
    assert "claimed_by_actor" in columns  # 0005 ran
    database.dispose()
