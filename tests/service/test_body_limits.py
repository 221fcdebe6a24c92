"""Bounded request bodies on a real uvicorn server (issue #15, point 2).

Over the route class's limit → 413 at once, whether the size is declared (Content-Length) or
streamed (chunked), before authentication and parsing; a body without any credentials → 401
before a byte of it is read. Small limits are configured here; bench/body_limit.py measures the
memory of a 400 MB body against the defaults.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from clustering import Embedder
from service.app import create_app
from service.settings import Settings
from tests.conftest import auth, make_keys
from tests.fakes.loopback import serve_on_loopback

BATCHES = "/api/v1/projects/demo/batches"
LIMIT = 64_000


@pytest.fixture
def server(settings: Settings, embedder: Embedder) -> Iterator[tuple[str, dict[str, str]]]:
    settings.max_body_bytes = LIMIT
    settings.max_json_body_bytes = 4_000
    settings.max_form_body_bytes = 2_000
    app = create_app(settings, embedder=embedder, start_worker=False, warm_up=False)
    keys = make_keys(app)
    try:
        with serve_on_loopback(app, "axial") as url:
            yield url, keys
    finally:
        app.state.services.db.dispose()


def exchange(url: str, head: str, chunks: Iterator[bytes] = iter(())) -> tuple[int, str, int]:
    """Send a request head, then ``chunks`` from a thread until the server answers; returns the
    status, the response and how many body bytes had been sent when it came."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10)
    sent = 0
    answered = threading.Event()

    def feed() -> None:
        nonlocal sent
        try:
            for chunk in chunks:
                if answered.is_set():
                    return
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            return  # the server closed the connection after answering

    sock.sendall(head.encode())
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            break
        data += more
    answered.set()
    sent_at_answer = sent
    time.sleep(0.05)  # let the rest of a short response arrive
    sock.settimeout(0.5)
    with contextlib.suppress(OSError):
        data += sock.recv(65536)
    sock.close()
    feeder.join(timeout=5)
    status = int(data.split(b" ", 2)[1]) if data else 0
    return status, data.decode("latin-1"), sent_at_answer


def head(method: str, path: str, headers: dict[str, str]) -> str:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *[f"{k}: {v}" for k, v in headers.items()],
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def chunked(size: int, total: int) -> Iterator[bytes]:
    piece = b"x" * size
    for _ in range(total // size):
        yield f"{size:x}\r\n".encode() + piece + b"\r\n"
        time.sleep(0.001)
    yield b"0\r\n\r\n"


def test_chunked_batch_over_the_limit_is_refused_at_once(
    server: tuple[str, dict[str, str]],
) -> None:
    url, keys = server
    total = 20_000_000
    request = head(
        "POST",
        BATCHES,
        {
            **auth(keys["client"]),
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
        },
    )
    status, response, sent = exchange(url, request, chunked(16_384, total))
    assert status == 413, response
    body = json.loads(response.split("\r\n\r\n", 1)[1])
    assert body["field"] == "body" and body["error"] == "too_large"
    assert "AXIAL_MAX_BODY_BYTES" in body["message"] and body["limit"] == LIMIT
    assert sent < total / 2  # answered long before the client had sent its body


def test_declared_length_over_the_limit_is_refused_unread(
    server: tuple[str, dict[str, str]],
) -> None:
    url, keys = server
    declared = {**auth(keys["lead"]), "Content-Type": "application/json"}
    status, response, _ = exchange(
        url, head("POST", "/api/v1/projects", {**declared, "Content-Length": "200000000"})
    )
    assert status == 413 and "AXIAL_MAX_JSON_BODY_BYTES" in response
    form = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "3000"}
    status, response, _ = exchange(url, head("POST", "/login", form))
    assert status == 413 and "AXIAL_MAX_FORM_BODY_BYTES" in response


@pytest.mark.parametrize(
    "framing", [{"Content-Length": "200000000"}, {"Transfer-Encoding": "chunked"}]
)
def test_no_credentials_is_401_before_the_body(
    server: tuple[str, dict[str, str]], framing: dict[str, str]
) -> None:
    url, _ = server
    headers = {"Content-Type": "application/json", **framing}
    # no body is sent at all: the answer cannot have waited for it
    status, response, _ = exchange(url, head("POST", "/api/v1/projects", headers))
    assert status == 401, response
    assert "unauthenticated" in response
    status, response, _ = exchange(url, head("POST", BATCHES, headers))
    assert status == 401, response
    page = {**headers, "Accept": "text/html"}
    status, response, _ = exchange(url, head("POST", "/proposals/1/confirm", page))
    assert status == 303 and "/login" in response


def test_bodies_within_the_limits_reach_the_routes(server: tuple[str, dict[str, str]]) -> None:
    url, keys = server

    def notes() -> Iterator[bytes]:  # streamed (chunked) and under the limit
        yield b'{"notes": ['
        yield b",".join(json.dumps({"text": f"note {i}"}).encode() for i in range(200))
        yield b"]}"

    # httpx's default 5 s read timeout was overrun once on a loaded machine: not what this tests
    with httpx.Client(base_url=url, headers=auth(keys["client"]), timeout=60) as client:
        resp = client.post(BATCHES, content=notes(), headers={"Content-Type": "application/json"})
        assert resp.status_code == 201, resp.text
        assert resp.json()["n_stored"] == 200
        body: Any = {"notes": [{"text": "a"}], "pad": "x" * LIMIT}
        assert client.post(BATCHES, json=body).status_code == 413
        run = client.post("/api/v1/projects/demo/runs", json={"batch_id": resp.json()["id"]})
        assert run.status_code == 202, run.text
