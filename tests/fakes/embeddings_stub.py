"""A local OpenAI-compatible embeddings server for tests: a fake at the network edge only.

A small FastAPI app serving ``POST /v1/embeddings`` on ``127.0.0.1`` and a free port, in a thread;
the real ``openai`` SDK talks to it over HTTP. Each request is recorded. The vectors are
deterministic and meaningful enough to cluster: character-trigram counts hashed into ``dim``
buckets (texts sharing words get close vectors), deliberately *not* unit-length, and returned in
reverse order with their ``index`` (as servers may) so that clients must reorder them. Scripted
faults answer the next requests instead: 429 with ``Retry-After``, 500, a reply with a vector
missing, or a slow reply.

Example::

    with running_embeddings_stub(dim=32) as stub:
        stub.queue(rate_limited())
        client = openai.OpenAI(base_url=stub.url, api_key="test")
        client.embeddings.create(model="m", input=["a note"], encoding_format="float")
        assert len(stub.requests) == 2  # the 429, then the answer
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.loopback import serve_on_loopback


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted answer instead of the vectors."""

    status: int = 200
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop_one: bool = False  # answer 200 with one vector fewer than asked


def rate_limited(retry_after: str = "0.05") -> Fault:
    return Fault(status=429, error="Rate limit reached", headers={"retry-after": retry_after})


def server_error(status: int = 500) -> Fault:
    return Fault(status=status, error="The server had an error")


def missing_vector() -> Fault:
    return Fault(drop_one=True)


def slow(delay_s: float) -> Fault:
    return Fault(delay_s=delay_s)


def stub_vector(text: str, dim: int) -> list[float]:
    """Trigram counts hashed into ``dim`` buckets, plus 1 (never zero, never unit-length)."""
    out = np.ones(dim)
    padded = f"  {text.lower()} "
    for i in range(len(padded) - 2):
        digest = hashlib.blake2b(padded[i : i + 3].encode(), digest_size=4).digest()
        out[int.from_bytes(digest, "little") % dim] += 1.0
    return [float(x) for x in out]


class EmbeddingsStub:
    """The server's state: scripted faults, the requests received, concurrency seen."""

    def __init__(self, dim: int = 32) -> None:
        self.dim = dim
        self.url = ""
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()

    def queue(self, *faults: Fault) -> None:
        """Answer the next requests with these faults, in order."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def texts(self) -> list[str]:
        """Every text received, in the order of the requests."""
        return [t for body in self.requests for t in body["input"]]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/embeddings")
        async def embeddings(request: Request) -> JSONResponse:
            body = await request.json()
            with self._lock:
                self.requests.append(body)
                self.headers.append(dict(request.headers))
                fault = self._faults.popleft() if self._faults else Fault()
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await asyncio.sleep(fault.delay_s or 0.01)  # let concurrent requests overlap
            finally:
                with self._lock:
                    self.in_flight -= 1
            if fault.status != 200:
                error = {"error": {"message": fault.error, "type": "stub_error", "code": None}}
                return JSONResponse(error, status_code=fault.status, headers=fault.headers)
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            dim = int(body.get("dimensions") or self.dim)
            data = [
                {"object": "embedding", "index": i, "embedding": stub_vector(t, dim)}
                for i, t in enumerate(texts)
            ][::-1]
            if fault.drop_one:
                data = data[1:]
            tokens = sum(len(t.split()) for t in texts)
            return JSONResponse(
                {
                    "object": "list",
                    "data": data,
                    "model": body.get("model", "stub"),
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            )

        return app


@contextmanager
def running_embeddings_stub(dim: int = 32) -> Iterator[EmbeddingsStub]:
    """Serve a fresh embeddings stub on 127.0.0.1 and a free port for the ``with`` block."""
    stub = EmbeddingsStub(dim)
    with serve_on_loopback(stub.app(), "embeddings stub") as base:
        stub.url = f"{base}/v1"
        yield stub
