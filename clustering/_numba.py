"""numba, compiled on first use: the package imports without paying numba's import cost."""

from __future__ import annotations

import threading
from typing import Any

_COMPILED: dict[str, Any] = {}
_LOCK = threading.Lock()


def compiled(function: Any) -> Any:
    """`function` compiled by numba (fastmath, `nogil` so calls run in parallel threads,
    cached on disk), once per process; numba is imported only when first needed."""
    with _LOCK:
        if function.__name__ not in _COMPILED:
            import numba

            _COMPILED[function.__name__] = numba.njit(fastmath=True, nogil=True, cache=True)(
                function
            )
        return _COMPILED[function.__name__]
