"""Identity is the key or user id, never a display name (issue #18): migration 0003's backfill."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from service.storage.db import alembic_config


def _upgrade(engine: object, revision: str) -> None:
    cfg = alembic_config(str(engine.url))  # type: ignore[attr-defined]
    with engine.begin() as conn:  # type: ignore[attr-defined]
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_old_events_get_the_id_of_the_one_key_or_user_their_name_names(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    _upgrade(engine, "0002")
    now = "2026-11-30 12:00:00"
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO project (id, name, created_at) VALUES (1, 'p', '{now}')"))
        conn.execute(
            text(
                "INSERT INTO app_user (id, username, password_hash, created_at) "
                f"VALUES (7, 'maya', 'x', '{now}')"
            )
        )
        for kid, name in ((3, "solo"), (4, "twin"), (5, "twin")):
            conn.execute(
                text(
                    "INSERT INTO api_key (id, project_id, name, role, prefix, key_hash, created_at)"
                    f" VALUES ({kid}, 1, '{name}', 'reviewer', 'axk_', 'h{kid}', '{now}')"
                )
            )
        for eid, actor in enumerate(("maya", "key:solo", "key:twin", "someone gone"), start=1):
            conn.execute(
                text(
                    "INSERT INTO review_event (id, project_id, actor, actor_kind, created_at, "
                    "action, mode, judge_visible, note_ids, before, after) VALUES "
                    f"({eid}, 1, '{actor}', 'human', '{now}', 'audit_label', 'blind', 0, '[]', "
                    "'{}', '{}')"
                )
            )
    _upgrade(engine, "head")
    with engine.begin() as conn:
        rows = dict(conn.execute(text("SELECT actor, actor_id FROM review_event")).all())
        reveals = conn.execute(text("SELECT count(*) FROM judge_reveal")).scalar()
    assert rows == {
        "maya": "user:7",
        "key:solo": "key:3",
        "key:twin": None,  # two keys share the name: no guess (readers fall back to the name)
        "someone gone": None,
    }
    assert reveals == 0
    engine.dispose()
