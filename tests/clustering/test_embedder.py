"""Embedders: real MiniLM (torch and int8 ONNX), offline loading, shapes and identities."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clustering import (
    Embedder,
    OnnxEmbedder,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
    resolve_model_path,
)
from clustering.embedder import CountsTokens, ReportsBatches

TEXTS = [
    "The agent called the search tool with an empty query.",
    "Hallucinated a function that does not exist in the library.",
    "ok",
    "The final answer ignored the user's constraint about dates. " * 40,  # > 256 tokens
]


def test_torch_rows_are_unit_float32(embedder: SentenceTransformerEmbedder) -> None:
    X = embedder.embed_batch(TEXTS)
    assert X.dtype == np.float32
    assert X.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert isinstance(embedder, Embedder)


def test_torch_empty_batch_keeps_dimension(embedder: SentenceTransformerEmbedder) -> None:
    assert embedder.embed_batch([]).shape == (0, 384)


def test_similar_texts_are_closer(embedder: SentenceTransformerEmbedder) -> None:
    a, b, c = embedder.embed_batch(
        ["the tool call timed out", "timeout while calling the tool", "a recipe for apple pie"]
    )
    assert a @ b > a @ c + 0.2


def test_model_ids_identify_the_vectors() -> None:
    torch_id = SentenceTransformerEmbedder().model_id
    assert torch_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert (
        SentenceTransformerEmbedder("sentence-transformers/all-MiniLM-L6-v2").model_id == torch_id
    )
    onnx_id = OnnxEmbedder().model_id
    assert onnx_id != torch_id and onnx_id.startswith(torch_id)
    assert SentenceTransformerEmbedder("/models/my-encoder").model_id == "/models/my-encoder"


def test_custom_path_model_id_is_the_folder_name(tmp_path: Path) -> None:
    folder = tmp_path / "my-encoder"
    folder.mkdir()
    assert SentenceTransformerEmbedder(str(folder)).model_id == "my-encoder"


def test_resolve_model_path() -> None:
    packaged = Path(resolve_model_path("all-MiniLM-L6-v2"))
    assert (packaged / "config.json").is_file()
    assert resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") == str(packaged)
    assert resolve_model_path("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert resolve_model_path("/some/local/model") == "/some/local/model"


def test_make_embedder() -> None:
    assert isinstance(make_embedder("torch", "all-MiniLM-L6-v2"), SentenceTransformerEmbedder)
    bf16 = make_embedder("torch-bf16", "all-MiniLM-L6-v2")
    assert isinstance(bf16, SentenceTransformerEmbedder) and bf16.precision == "bfloat16"
    assert isinstance(make_embedder("onnx", "all-MiniLM-L6-v2"), OnnxEmbedder)
    remote = make_embedder("openai", "text-embedding-3-small", batch_size=100)
    assert isinstance(remote, OpenAIEmbedder) and remote.batch_size == 100
    with pytest.raises(ValueError, match="backend"):
        make_embedder("tensorflow", "all-MiniLM-L6-v2")  # type: ignore[arg-type]


def test_bfloat16_vectors_stay_close_to_float32(embedder: SentenceTransformerEmbedder) -> None:
    """bfloat16 weights and activations (native on AVX512-BF16/AMX CPUs, emulated elsewhere)."""
    bf16 = SentenceTransformerEmbedder(precision="bfloat16")
    assert bf16.model_id == "sentence-transformers/all-MiniLM-L6-v2+bf16"
    X = bf16.embed_batch(TEXTS)
    assert X.dtype == np.float32 and X.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert ((X * embedder.embed_batch(TEXTS)).sum(axis=1) > 0.99).all()
    with pytest.raises(ValueError, match="precision"):
        SentenceTransformerEmbedder(precision="float16")  # type: ignore[arg-type]


def test_default_model_loads_offline(tmp_path: Path) -> None:
    """A fresh process with no HF cache, no HF_HUB_OFFLINE and a dead hub still embeds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env |= {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    code = (
        "import os; from clustering import SentenceTransformerEmbedder as E;"
        "x = E().embed_batch(['hello']); print(x.shape, os.environ['HF_HUB_OFFLINE'])"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("(1, 384) 1")
    assert not any((tmp_path / "hf").rglob("*.safetensors"))


def test_onnx_matches_torch(
    onnx_embedder: OnnxEmbedder, embedder: SentenceTransformerEmbedder
) -> None:
    X = onnx_embedder.embed_batch(TEXTS)
    assert X.dtype == np.float32 and X.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    cos = (X * embedder.embed_batch(TEXTS)).sum(axis=1)
    assert cos.min() > 0.95, cos
    assert onnx_embedder.embed_batch([]).shape == (0, 384)


def test_onnx_short_notes_are_not_batched_with_long_ones(onnx_embedder: OnnxEmbedder) -> None:
    """int8 activations are scaled per batch: a short note beside a long one must not change."""
    alone = onnx_embedder.embed_batch(["ok", "wrong date"])
    mixed = onnx_embedder.embed_batch(["ok", TEXTS[3], "wrong date", TEXTS[0]])
    np.testing.assert_array_equal(mixed[[0, 2]], alone)


def test_onnx_export_is_reused(onnx_embedder: OnnxEmbedder) -> None:
    onnx_embedder.embed_batch(["x"])
    assert onnx_embedder.cache_dir is not None
    exports = [p for p in Path(onnx_embedder.cache_dir).iterdir() if not p.name.startswith(".")]
    assert len(exports) == 1
    assert {"model_int8.onnx", "tokenizer.json", "meta.json"} <= {
        p.name for p in exports[0].iterdir()
    }
    again = OnnxEmbedder(cache_dir=onnx_embedder.cache_dir).embed_batch(TEXTS[:2])
    np.testing.assert_allclose(again, onnx_embedder.embed_batch(TEXTS[:2]), atol=1e-6)


def test_onnx_threads_sleep_between_batches(onnx_embedder: OnnxEmbedder) -> None:
    """No busy-waiting intra-op threads: they would take a core from the rest of the process."""
    from clustering.onnx_embedder import SPINNING

    onnx_embedder.embed_batch(["x"])
    options = onnx_embedder._session.get_session_options()
    assert options.get_session_config_entry(SPINNING) == "0"


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_reporting_batches_changes_no_vector(
    backend: str,
    onnx_embedder: OnnxEmbedder,
    embedder: SentenceTransformerEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The progress callback sees every forward pass; the model gets the same batches (int8
    activations are scaled per batch, so other batches would give other ONNX vectors)."""
    model = onnx_embedder if backend == "onnx" else embedder
    monkeypatch.setattr(model, "batch_size", 3)
    texts = [f"{'the tool call timed out ' * (i % 5)}note {i}" for i in range(11)] + TEXTS[:3]
    passes: list[int] = []
    reported = model.embed_batch_reporting(texts, passes.append)
    np.testing.assert_array_equal(reported, model.embed_batch(texts))
    assert sum(passes) == len(texts) and max(passes) <= 3 and len(passes) >= 5
    assert isinstance(model, ReportsBatches)


def _real_texts(datasets: Path, n: int, seed: int) -> list[str]:
    """n texts drawn at random from every shared set, plus edge cases and repeats."""
    import json
    import random

    pool = sorted(
        {
            json.loads(line)["text"]
            for path in sorted(datasets.glob("*/notes.jsonl"))
            for line in path.read_text().splitlines()
            if line.strip()
        }
    )
    texts = random.Random(seed).sample(pool, n)
    return [*texts, "", "ok", TEXTS[3], texts[0], "ok"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_torch_vectors_are_a_plain_encodes(
    embedder: SentenceTransformerEmbedder, datasets: Path, seed: int
) -> None:
    """Sorted by tokens, deduplicated, tokenized once and run pass by pass, the vectors are
    still ``SentenceTransformer.encode``'s: same order, same rows (float32 rounding apart)."""
    assert embedder._direct  # the passes' inputs are built from the one tokenization
    texts = _real_texts(datasets, 80, seed)
    X = embedder.embed_batch(texts)
    assert embedder._st is not None
    # encode's own passes, of 8 (its vectors do not depend on the pass size): with 64, the
    # one 256-token text padded 63 others to its length, 5 s of the suite per seed
    reference = embedder._st.encode(texts, batch_size=8, normalize_embeddings=True)
    assert X.shape == reference.shape and X.dtype == np.float32
    assert (X * reference).sum(axis=1).min() >= 0.9999
    np.testing.assert_array_equal(X[-1], X[-4])  # a repeated text: one row, copied
    np.testing.assert_array_equal(X[-2], X[0])


def test_token_lengths_are_the_models(
    embedder: SentenceTransformerEmbedder, datasets: Path
) -> None:
    texts = _real_texts(datasets, 200, 3)
    assert embedder._st is not None
    tokenizer, limit = embedder._st.tokenizer, embedder._st.max_seq_length
    expected = [
        len(ids) for ids in tokenizer(texts, truncation=True, max_length=limit)["input_ids"]
    ]
    assert embedder.token_lengths(texts).tolist() == expected
    assert max(expected) == limit  # the long text is truncated, as the model sees it
    assert isinstance(embedder, CountsTokens)


def test_torch_passes_are_longest_first_within_a_token_budget_and_each_text_once(
    embedder: SentenceTransformerEmbedder, datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedder, "batch_size", 16)
    texts = _real_texts(datasets, 100, 4)
    distinct = list(dict.fromkeys(texts))
    lengths = embedder.token_lengths(distinct)
    batches = embedder.batches(lengths)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(distinct)))
    assert all(len(b) <= 16 for b in batches)
    padded = [len(b) * int(lengths[b].max()) for b in batches]
    assert all(
        tokens <= embedder.tokens_per_pass or len(b) == 1
        for tokens, b in zip(padded, batches, strict=True)
    )
    monkeypatch.setattr(embedder, "tokens_per_pass", 64)  # long texts go fewer to a pass
    small = embedder.batches(lengths)
    assert all(len(b) * int(lengths[b].max()) <= 64 or len(b) == 1 for b in small)
    assert len(small[0]) == 1 and len(small) > len(batches)
    monkeypatch.setattr(embedder, "tokens_per_pass", 2048)
    widths = [int(lengths[b].max()) for b in batches]
    assert widths == sorted(widths, reverse=True)
    for earlier, later in itertools.pairwise(batches):
        assert lengths[earlier].min() >= lengths[later].max()  # no pass pads a shorter one's
    passes: list[int] = []
    embedder.embed_batch_reporting(texts, passes.append)
    assert passes == [len(b) for b in batches] and sum(passes) == len(distinct) < len(texts)


def test_passes_built_from_one_tokenization_are_the_models_inputs(
    embedder: SentenceTransformerEmbedder, datasets: Path
) -> None:
    """The inputs built from the counting tokenizer equal sentence-transformers' preprocess."""
    import torch

    from clustering.embedder import _features

    assert embedder._st is not None and embedder._counter is not None
    for seed in range(5):
        texts = _real_texts(datasets, 60, 10 + seed)
        ours = _features(embedder._counter.encode_batch(texts), embedder._pad_id)
        theirs = embedder._st.preprocess(texts)
        assert set(ours) == set(theirs)
        for key, value in ours.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, theirs[key]), key
