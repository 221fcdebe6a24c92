"""Routes whose unit of work is run again after a deadlock or serialization failure.

Review actions take the project's review lock before any row lock
(:func:`~service.storage.db.lock_review_state`), so they should never deadlock; should
PostgreSQL still roll a request's transaction back as a deadlock victim or a serialization
failure, :class:`RetryingRoute` runs the whole request again — a new transaction, the
caller authenticated again, the body read once and kept — after a short jittered wait, a
bounded number of times. Still failing, it answers 409 ``busy`` (try again), never 500.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError

from service.errors import Busy
from service.http.deps import checks_before_invalid_input
from service.storage.db import backoff_s, is_retryable

ATTEMPTS = 5


def busy() -> Busy:
    return Busy(
        "the database rolled this request back several times (concurrent writers); "
        "nothing was stored: try again",
        field=None,
    )


class RetryingRoute(APIRoute):
    """An ``APIRoute`` that reruns its handler (dependencies included) on a retryable error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def retrying(request: Request) -> Response:
            await request.body()  # read once: a rerun parses the same bytes
            for attempt in range(ATTEMPTS):
                try:
                    return await handler(request)
                except RequestValidationError:
                    await checks_before_invalid_input(request)
                    raise
                except DBAPIError as exc:
                    if not is_retryable(exc):
                        raise
                    await anyio.sleep(backoff_s(attempt))
            raise busy()

        return retrying
