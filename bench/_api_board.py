"""The oracle's side of the real server for bench/effort.py: ``axial serve`` in a subprocess,
an API client, and one run's review through the HTTP API as a :class:`_oracle.Board`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import REPO
from _oracle import Board, Prop


class Server:
    """``axial serve`` on a fresh SQLite file, in a subprocess; keys made with the CLI."""

    def __init__(self, workdir: Path) -> None:
        self.db = f"sqlite:///{workdir / 'effort.db'}"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.log = (workdir / "server.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service", "--db", self.db, "serve", "--port", str(self.port)],
            cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v1/projects", timeout=2).status_code == 401:
                    return
            except httpx.TransportError:
                time.sleep(0.5)
        raise RuntimeError(f"server did not start; see {self.log.name}")

    def key(self, project: str, role: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "service", "--db", self.db, "keys", "create",
             "--project", project, "--role", role, "--name", f"oracle-{role}"],
            cwd=REPO, env=self.env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return out.strip().split()[-1]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


class Api:
    def __init__(self, url: str, key: str) -> None:
        self.http = httpx.Client(
            base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=300
        )
        paths = httpx.get(f"{url}/openapi.json", timeout=60).json()["paths"]
        # the contract addition of issue #14: a category from selected notes
        self.can_create = "post" in paths.get("/api/v1/projects/{project}/categories", {})
        # filing notes of a run into a category from wherever they sit, in one call
        self.can_file = "post" in paths.get("/api/v1/runs/{run_id}/notes/file", {})

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path} {kw.get('json')} -> {r.status_code} {r.text}")
        return r.json()


class ApiBoard(Board):
    """One run's review through the HTTP API, as a reviewer."""

    def __init__(self, api: Api, project: str, run_id: int, file: bool = True) -> None:
        self.api, self.project, self.run_id = api, project, run_id
        self.file = file and api.can_file

    def _version(self, prop: int) -> int:
        return int(self.api.call("GET", f"/proposals/{prop}")["version"])

    def pending(self) -> list[Prop]:
        rows = self.api.call("GET", f"/runs/{self.run_id}/proposals")
        return [
            Prop(
                p["id"],
                tuple(m["note_id"] for m in p["members"]),
                p.get("matched_category_id"),
                p.get("kind") == "carry_over",
            )
            for p in rows
            if p["status"] == "pending" and p["members"]
        ]

    def unclustered(self) -> list[int]:
        rows = self.api.call("GET", f"/runs/{self.run_id}/unclustered")
        return [r["note_id"] for r in rows if r["category_id"] is None and not r["is_noise"]]

    def _where(self, category: int | None, proposal: int | None) -> dict[str, int]:
        return (
            {"to_category_id": category} if category is not None else {"to_proposal_id": proposal}
        )  # type: ignore[dict-item]

    def move(
        self, prop: int, notes: list[int], *, category: int | None, proposal: int | None
    ) -> None:
        body = {
            "version": self._version(prop),
            "note_ids": notes,
            **self._where(category, proposal),
        }
        self.api.call("POST", f"/proposals/{prop}/move", json=body)

    def assign(self, notes: list[int], *, category: int | None, proposal: int | None) -> None:
        body = {"note_ids": notes, **self._where(category, proposal)}
        self.api.call("POST", f"/runs/{self.run_id}/unclustered/assign", json=body)

    def merge(self, prop: int, category: int) -> None:
        body = {"version": self._version(prop), "into_category_id": category}
        self.api.call("POST", f"/proposals/{prop}/merge", json=body)

    def confirm(self, prop: int, name: str, *, into_matched: bool) -> int:
        if not into_matched:  # the oracle names the category after its label (not counted)
            self.api.call(
                "POST",
                f"/proposals/{prop}/rename",
                json={"version": self._version(prop), "name": name},
            )
        body = {"version": self._version(prop), "into": "matched" if into_matched else "new"}
        return int(self.api.call("POST", f"/proposals/{prop}/confirm", json=body)["category_id"])

    def split(self, prop: int, groups: list[list[int]]) -> None:
        body = {"version": self._version(prop), "groups": groups}
        self.api.call("POST", f"/proposals/{prop}/split", json=body)

    def confirm_matched(self, props: list[int]) -> bool:
        items = [{"id": p, "version": self._version(p)} for p in props]
        self.api.call("POST", f"/runs/{self.run_id}/carry-overs/confirm", json={"proposals": items})
        return True

    def file_notes(self, notes: list[int], category: int) -> bool:
        if not self.file:
            return False
        body = {"category_id": category, "note_ids": notes}
        self.api.call("POST", f"/runs/{self.run_id}/notes/file", json=body)
        return True

    def create_category(self, name: str, notes: list[int]) -> int | None:
        if not self.api.can_create:
            return None
        body = {"name": name, "note_ids": notes}
        return int(self.api.call("POST", f"/projects/{self.project}/categories", json=body)["id"])


def label_audit(api: Api, run_id: int, gold: dict[int, str], codebook: dict[str, int]) -> int:
    """Label the run's blind audit sample from the gold labels (not counted as review effort)."""
    sample = api.call("GET", f"/runs/{run_id}/audit")["notes"]
    for item in sample:
        label = gold[item["note_id"]]
        body: dict[str, Any] = {"note_id": item["note_id"]}
        if label in codebook:
            body["category_id"] = codebook[label]
        else:
            body["new_category_name"] = label
        api.call("POST", f"/runs/{run_id}/audit/labels", json=body)
    return len(sample)
