"""A faster CPU embedder: an int8 ONNX Runtime export of a sentence-transformers model.

On first use the model is loaded once through sentence-transformers, exported to ONNX with
torch's exporter, dynamically quantized to int8 with `onnxruntime.quantization`, and saved
(with its tokenizer and pooling settings) into `cache_dir`. Later runs need only
`onnxruntime` and `tokenizers`: no torch import, no hub access.

Example:
    >>> emb = OnnxEmbedder()          # exports into ~/.cache/axial/onnx on first use
    >>> emb.model_id
    'sentence-transformers/all-MiniLM-L6-v2+onnx-int8'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from clustering.embedder import (
    DEFAULT_MODEL,
    OnBatch,
    base_model_id,
    empty_embeddings,
    ensure_offline,
    normalize_rows,
    quiet_model_libraries,
    resolve_model_path,
)

_EXPORT_VERSION = "2"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True, slots=True)
class ExportMeta:
    """What inference needs besides the graph: pooling mode, length limit, inputs, dim."""

    pooling: str
    max_seq_length: int
    input_names: tuple[str, ...]
    dim: int


SPINNING = "session.intra_op.allow_spinning"
"""ONNX Runtime's option for intra-op threads that busy-wait between work (off here)."""


def default_cache_dir() -> Path:
    """Return `~/.cache/axial/onnx`, the export folder used when none is given."""
    return Path.home() / ".cache" / "axial" / "onnx"


def _export_key(model: str) -> str:
    source = resolve_model_path(model)
    digest = hashlib.sha256(f"{_EXPORT_VERSION}|{source}".encode()).hexdigest()[:12]
    slug = base_model_id(model).replace("/", "__")
    return f"{slug}-int8-{digest}"


def _pooling_mode(st: Any) -> str:
    for module in st:
        if type(module).__name__ != "Pooling":
            continue
        conf = module.get_config_dict()
        mode = conf.get("pooling_mode")
        if not isinstance(mode, str):
            mode = "cls" if conf.get("pooling_mode_cls_token") else "mean"
        if mode not in {"cls", "mean"}:
            raise ValueError(f"ONNX export supports mean or cls pooling, not {mode!r}")
        return mode
    return "mean"


def _export(model: str, target: Path) -> None:
    """Export `model` to an int8 ONNX graph plus tokenizer and meta in `target`."""
    ensure_offline()
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    quiet_model_libraries()
    st = SentenceTransformer(resolve_model_path(model), device="cpu")
    hf_model = st[0].auto_model.eval()
    tokenizer = st.tokenizer
    sample = tokenizer(["an example note", "another"], padding=True, return_tensors="pt")
    names = tuple(n for n in _INPUTS if n in sample)
    axes = {n: {0: "batch", 1: "seq"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "seq"}
    fp32 = target / "model_fp32.onnx"

    class _Positional(torch.nn.Module):  # type: ignore[misc]  # torch is not analysed
        def __init__(self) -> None:
            super().__init__()
            self.inner = hf_model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            out = self.inner(**dict(zip(names, tensors, strict=True)), return_dict=True)
            hidden: torch.Tensor = out.last_hidden_state
            return hidden

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about constant shapes are expected
        torch.onnx.export(
            _Positional().eval(),
            tuple(sample[n] for n in names),
            str(fp32),
            input_names=list(names),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    with warnings.catch_warnings(), _quiet_root_logger("onnxruntime"):
        warnings.simplefilter("ignore")
        quantize_dynamic(
            str(fp32),
            str(target / "model_int8.onnx"),
            per_channel=True,
            weight_type=QuantType.QInt8,
        )
    fp32.unlink()
    tokenizer.backend_tokenizer.save(str(target / "tokenizer.json"))
    dim = int(hf_model.config.hidden_size)
    meta = ExportMeta(_pooling_mode(st), int(st.max_seq_length), names, dim)
    (target / "meta.json").write_text(json.dumps(_meta_dict(meta)))


class _DropFrom(logging.Filter):
    """Drop the records logged from a package's files."""

    def __init__(self, package: str) -> None:
        super().__init__()
        self.part = f"{os.sep}{package}{os.sep}"

    def filter(self, record: logging.LogRecord) -> bool:
        return self.part not in record.pathname


@contextmanager
def _quiet_root_logger(package: str) -> Iterator[None]:
    """Silence what ``package`` logs on the root logger ("WARNING:root:Please consider to run
    pre-processing before quantization"), and keep its ``logging.warning`` calls from
    installing a handler on the root logger (they do when it has none)."""
    root = logging.getLogger()
    guard, drop = logging.NullHandler(), _DropFrom(package)
    root.addHandler(guard)
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)
        root.removeHandler(guard)


def _meta_dict(meta: ExportMeta) -> dict[str, Any]:
    return {
        "pooling": meta.pooling,
        "max_seq_length": meta.max_seq_length,
        "input_names": list(meta.input_names),
        "dim": meta.dim,
    }


def ensure_export(model: str, cache_dir: Path | None = None) -> Path:
    """Return the folder holding the int8 export of `model`, exporting it if missing.

    The export is written to a temporary sibling folder and renamed into place, so two
    processes exporting at once never see a half-written folder.

    Args:
        model: Model name or local path.
        cache_dir: Parent folder of exports; `default_cache_dir()` when None.

    Returns:
        The export folder (contains model_int8.onnx, tokenizer.json, meta.json).
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / _export_key(model)
    if (target / "meta.json").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
    try:
        _export(model, tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "meta.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class OnnxEmbedder:
    """Embed texts with an int8 ONNX Runtime export of a sentence-transformers model.

    Args:
        model: A sentence-transformers model name or local path.
        batch_size: Texts per forward pass.
        cache_dir: Parent folder of exports; `~/.cache/axial/onnx` when None.

    Example:
        >>> OnnxEmbedder(cache_dir=tmp_path).embed_batch(["hi"]).shape
        (1, 384)
    """

    def __init__(
        self, model: str = DEFAULT_MODEL, batch_size: int = 64, cache_dir: Path | None = None
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.model_id = f"{base_model_id(model)}+onnx-int8"
        self._session: Any = None
        self._tokenizer: Any = None
        self._meta: ExportMeta | None = None
        self._pad_id = 0

    def _load(self) -> ExportMeta:
        if self._meta is None:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            folder = ensure_export(self.model, self.cache_dir)
            raw = json.loads((folder / "meta.json").read_text())
            meta = ExportMeta(
                raw["pooling"], raw["max_seq_length"], tuple(raw["input_names"]), raw["dim"]
            )
            tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tok.enable_truncation(max_length=meta.max_seq_length)
            tok.enable_padding()
            self._pad_id = int(tok.padding["pad_id"]) if tok.padding else 0
            tok.no_padding()  # each bucket is padded to its own longest note (_pad)
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Threads sleep between batches instead of spinning: the same speed on an idle
            # machine (2,000 banking77 texts, 2 cores: 3.2 s against 3.3), and beside one busy
            # process 5.1 s with 6.5 s of CPU against 6.2 s with 8.8 (spinning steals a core
            # from whatever else runs: the web requests of the process that embeds, say).
            opts.add_session_config_entry(SPINNING, "0")
            self._session = ort.InferenceSession(
                str(folder / "model_int8.onnx"), opts, providers=["CPUExecutionProvider"]
            )
            self._tokenizer, self._meta = tok, meta
        return self._meta

    def _pad(self, encodings: Sequence[Any], meta: ExportMeta) -> dict[str, NDArray[np.int64]]:
        """The model's inputs for one bucket, padded to its longest note."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = e.attention_mask
            types[row, : len(e.ids)] = e.type_ids
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in meta.input_names:
            feed["token_type_ids"] = types
        return feed

    def _run(self, feed: dict[str, NDArray[np.int64]], meta: ExportMeta) -> NDArray[np.float32]:
        (hidden,) = self._session.run(["last_hidden_state"], feed)
        if meta.pooling == "cls":
            return normalize_rows(hidden[:, 0])
        weights = feed["attention_mask"][:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalize_rows(pooled)

    def _buckets(self, lengths: NDArray[np.int_]) -> list[NDArray[np.intp]]:
        """Batches of texts of similar token length, at most ``batch_size`` each.

        Dynamic int8 quantization scales activations per batch, padding included, so a short
        note padded to a long one's length loses precision (bench/README.md, "Embedding
        speed"). A batch therefore ends where lengths grow by half.
        """
        order = np.argsort(lengths, kind="stable")
        batches: list[NDArray[np.intp]] = []
        start = 0
        for end in range(1, len(order) + 1):
            first = int(lengths[order[start]])
            if (
                end == len(order)
                or end - start == self.batch_size
                or lengths[order[end]] > max(first * 1.5, first + 4)
            ):
                batches.append(order[start:end])
                start = end
        return batches

    def embed_batch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts (batched by length to keep padding small; order is preserved).

        Each text is tokenized once; the batches are formed from the token lengths.

        Args:
            texts: The texts, in order.

        Returns:
            Array of shape (len(texts), dim), float32, unit-norm rows.
        """
        return self.embed_batch_reporting(texts, lambda _n: None)

    def embed_batch_reporting(self, texts: Sequence[str], on_batch: OnBatch) -> NDArray[np.float32]:
        """`embed_batch`, calling ``on_batch(n)`` after each forward pass of ``n`` texts."""
        meta = self._load()
        if len(texts) == 0:
            return empty_embeddings(meta.dim)
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        out = np.empty((len(texts), meta.dim), dtype=np.float32)
        for idx in self._buckets(lengths):
            out[idx] = self._run(self._pad([encodings[i] for i in idx], meta), meta)
            on_batch(len(idx))
        return out
