"""numba, compiled on first use: the package imports without paying numba's import cost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

# Keyed by the function object itself: two functions that share a name (in different
# modules or classes) never share a compiled kernel.
_COMPILED: dict[Callable[..., Any], Any] = {}
_LOCK = threading.Lock()


def compiled(function: F) -> F:
    """`function` compiled by numba (fastmath, `nogil` so calls run in parallel threads,
    cached on disk), once per process; numba is imported only when first needed.

    Args:
        function: A plain Python function numba can compile in nopython mode.

    Returns:
        numba's dispatcher for it, called like `function`; the same object on every call
        with the same function.
    """
    with _LOCK:
        if function not in _COMPILED:
            import numba

            _COMPILED[function] = numba.njit(fastmath=True, nogil=True, cache=True)(function)
        return cast(F, _COMPILED[function])  # a numba Dispatcher, called like `function`
