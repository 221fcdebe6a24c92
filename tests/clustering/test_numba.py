"""clustering._numba.compiled: one kernel per function, whatever the functions are called."""

from __future__ import annotations

from clustering._numba import compiled


class _First:
    @staticmethod
    def kernel(x: float) -> float:
        return x + 1.0


class _Second:
    @staticmethod
    def kernel(x: float) -> float:
        return x + 2.0


def test_functions_sharing_a_name_get_their_own_kernel() -> None:
    assert _First.kernel.__name__ == _Second.kernel.__name__
    first, second = compiled(_First.kernel), compiled(_Second.kernel)
    assert first is not second
    assert (first(1.0), second(1.0)) == (2.0, 3.0)


def test_a_function_is_compiled_once() -> None:
    assert compiled(_First.kernel) is compiled(_First.kernel)
