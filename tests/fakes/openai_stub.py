"""A local OpenAI-compatible chat-completions server for tests: the only fake, at the network edge.

A small FastAPI app served by uvicorn on ``127.0.0.1`` and a free port, in a thread. The real
``openai`` SDK talks to it over HTTP. Each request is recorded; the answer comes from a queue of
scripted items, else from a ``responder`` function of the request (useful when concurrent
calls arrive in any order). Scripted items can be replies or faults: 429 with Retry-After, 500,
a slow reply past the client's timeout, malformed JSON, JSON of the wrong schema, an empty
message, or a 400 saying the ``json_schema`` response format is unsupported.

Example::

    with running_stub() as stub:
        stub.queue(reply({"name": "Wrong timezone", ...}), rate_limited(retry_after="2"))
        client = openai.OpenAI(base_url=stub.url, api_key="test", max_retries=0)
        ...
        assert "note text" in stub.requests[0].user
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.loopback import serve_on_loopback


@dataclass(frozen=True, slots=True)
class Scripted:
    """One scripted answer: a chat completion, or an error status."""

    content: str | None = None
    status: int = 200
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    usage: tuple[int, int] | None = None  # (prompt, completion); None = estimated


def reply(content: dict[str, Any] | str | None, usage: tuple[int, int] | None = None) -> Scripted:
    """A successful reply whose message content is ``content`` (a dict is JSON-encoded)."""
    text = json.dumps(content) if isinstance(content, dict) else content
    return Scripted(content=text, usage=usage)


def rate_limited(retry_after: str | None = "1") -> Scripted:
    """429, optionally with a ``Retry-After`` header."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Scripted(status=429, error="Rate limit reached", headers=headers)


def server_error(status: int = 500) -> Scripted:
    return Scripted(status=status, error="The server had an error")


def slow(delay_s: float, then: Scripted | None = None) -> Scripted:
    """A reply that arrives after ``delay_s`` (past the client's timeout in tests)."""
    base = then or reply({"name": "too late"})
    return Scripted(base.content, base.status, base.error, base.headers, delay_s, base.usage)


def malformed() -> Scripted:
    return reply('{"name": "Truncated repl')


def wrong_schema() -> Scripted:
    return reply({"category": "Billing", "confidence": 0.9})


def empty() -> Scripted:
    return reply("")


def json_schema_unsupported() -> Scripted:
    return Scripted(status=400, error="response_format type 'json_schema' is not supported")


def judge_answer(name: str, **fields: Any) -> dict[str, Any]:
    """A valid judge reply body named ``name``; keyword arguments override its fields."""
    body: dict[str, Any] = {
        "name": name,
        "definition": f"The assistant gets {name.lower()}.",
        "include_rule": "The note says the assistant made this mistake.",
        "exclude_rule": "The note only mentions the topic without the mistake.",
        "existing_category_id": None,
        "misfit_note_ids": [],
    }
    body.update(fields)
    return body


@dataclass(frozen=True, slots=True)
class StubRequest:
    """What the SDK sent: the JSON body and the headers."""

    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def system(self) -> str:
        return next((m["content"] for m in self.messages if m["role"] == "system"), "")

    @property
    def user(self) -> str:
        """The first user message (the data block)."""
        return next((m["content"] for m in self.messages if m["role"] == "user"), "")

    @property
    def response_format(self) -> str | None:
        fmt = self.body.get("response_format")
        return fmt.get("type") if isinstance(fmt, dict) else None


Responder = Callable[[StubRequest], Scripted]


class OpenAIStub:
    """The server's state: scripted answers and the requests received."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[StubRequest] = []
        self.responder: Responder | None = None
        self.reject_json_schema = False
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: deque[Scripted] = deque()
        self._lock = threading.Lock()

    def queue(self, *items: Scripted) -> None:
        """Answer the next requests with these items, in order."""
        with self._lock:
            self._queue.extend(items)

    def _next(self, request: StubRequest) -> Scripted:
        with self._lock:
            self.requests.append(request)
            if self.reject_json_schema and request.response_format == "json_schema":
                return json_schema_unsupported()
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(request)
        return Scripted(status=500, error="stub: nothing scripted for this request")

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            got = StubRequest(await request.json(), dict(request.headers))
            item = self._next(got)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            await asyncio.sleep(item.delay_s)
            self.in_flight -= 1
            if item.status != 200:
                body = {"error": {"message": item.error, "type": "stub_error", "code": None}}
                return JSONResponse(body, status_code=item.status, headers=item.headers)
            return JSONResponse(_completion(got, item))

        return app


def _completion(request: StubRequest, item: Scripted) -> dict[str, Any]:
    prompt_chars = sum(len(str(m.get("content", ""))) for m in request.messages)
    prompt, completion = item.usage or (prompt_chars // 4 + 1, len(item.content or "") // 4 + 1)
    return {
        "id": f"chatcmpl-stub-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.body.get("model", "stub"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": item.content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


@contextmanager
def running_stub() -> Iterator[OpenAIStub]:
    """Serve a fresh stub on 127.0.0.1 and a free port for the ``with`` block."""
    stub = OpenAIStub()
    with serve_on_loopback(stub.app(), "openai stub") as base:
        stub.url = f"{base}/v1"
        yield stub
