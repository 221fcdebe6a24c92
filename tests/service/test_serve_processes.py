"""``axial serve --processes 2``: two web processes on one port, one SQLite file.

Reviewers' requests land on either process (a new connection each); every action is
acknowledged once and in order (versions 1, 2, 3, ...), and the writers of both take turns
through the lock file beside the database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from service.auth import Role, create_key
from service.storage.db import Database
from service.storage.models import Project, ProposalState
from tests.service.test_review_statements import seed_run


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(c) for c in task.read_text().split()]
    return found


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_two_web_processes_serve_one_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "served.db"
    url = f"sqlite:///{path}"
    database = Database(url)
    database.upgrade()
    with database.transaction() as session:
        project = Project(name="served")
        session.add(project)
        session.flush()
        run_id = seed_run(session, project, 3, 5, 7)
        key = create_key(session, project, Role.reviewer, "two")
    database.dispose()
    port = _free_port()
    env = {**os.environ, "AXIAL_BLIND_FIRST": "false", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "service", "--db", url, "serve", "--no-worker",
           "--processes", "2", "--port", str(port)]  # fmt: skip
    log = (tmp_path / "web.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}", "Connection": "close"}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "web.log").read_text()
            try:
                if httpx.get(f"{base}/api/v1/runs/{run_id}/queue", headers=headers).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the web processes did not start"
            time.sleep(0.3)
        assert len(_children(proc.pid)) >= 2, "two web processes"
        rows = httpx.get(f"{base}/api/v1/runs/{run_id}/queue", headers=headers).json()
        proposal = rows["proposals"][0]["proposal_id"]
        for version in range(1, 11):
            resp = httpx.post(f"{base}/api/v1/proposals/{proposal}/rename", headers=headers,
                              json={"version": version, "name": f"Name {version}"})  # fmt: skip
            assert resp.status_code == 200, resp.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert Path(f"{path}-writers.lock").exists(), "the writers took turns through the lock file"
    database = Database(url)
    with database.transaction() as session:
        state = session.get_one(ProposalState, proposal)
        assert (state.version, state.name) == (11, "Name 10")
    database.dispose()
