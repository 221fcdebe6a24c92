"""Embedding speed: torch (sentence-transformers) vs the int8 ONNX Runtime export.

Embeds the same sample of real texts (drawn from every shared set) with both backends after
a warm-up batch, and reports texts/s, the speed-up, the one-off export + quantization time
(into a fresh folder) and the cosine between each text's two vectors.

Usage:
    .venv/bin/python bench/embed_speed.py [--n 2000] [--batch-size 64] [--repeats 2]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _data import SETS, load_set, write_json

from clustering import Embedder, OnnxEmbedder, SentenceTransformerEmbedder


def sample_texts(n: int, seed: int = 0) -> list[str]:
    """A seeded sample of n texts from all shared sets together."""
    pool = [t for name in SETS for t in load_set(name).texts]
    return random.Random(seed).sample(pool, min(n, len(pool)))


def throughput(embedder: Embedder, texts: list[str], repeats: int) -> tuple[float, np.ndarray]:
    """Best-of-`repeats` texts per second, and the vectors."""
    embedder.embed_batch(texts[:64])  # load + warm
    best = float("inf")
    X = np.empty(0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        X = embedder.embed_batch(texts)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best, X


def main() -> None:
    """Measure both backends and print a markdown table; write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    texts = sample_texts(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        onnx = OnnxEmbedder(batch_size=args.batch_size, cache_dir=Path(tmp))
        t0 = time.perf_counter()
        onnx.embed_batch(["export"])
        export_s = time.perf_counter() - t0
        onnx_rate, X_onnx = throughput(onnx, texts, args.repeats)
    torch_emb = SentenceTransformerEmbedder(batch_size=args.batch_size)
    torch_rate, X_torch = throughput(torch_emb, texts, args.repeats)
    cos = (X_onnx * X_torch).sum(axis=1)
    result: dict[str, Any] = {
        "n": len(texts),
        "batch_size": args.batch_size,
        "torch_texts_per_s": torch_rate,
        "onnx_texts_per_s": onnx_rate,
        "speedup": onnx_rate / torch_rate,
        "export_and_quantize_s": export_s,
        "cosine_mean": float(cos.mean()),
        "cosine_p01": float(np.quantile(cos, 0.01)),
        "cosine_min": float(cos.min()),
    }
    print("| backend | model_id | texts/s | speed-up | cosine to torch (mean / 1% / min) |")
    print("| --- | --- | ---: | ---: | --- |")
    print(f"| torch | {torch_emb.model_id} | {torch_rate:.0f} | 1.0× | – |")
    print(
        f"| onnx int8 | {onnx.model_id} | {onnx_rate:.0f} | {result['speedup']:.1f}× "
        f"| {result['cosine_mean']:.4f} / {result['cosine_p01']:.4f} / {result['cosine_min']:.4f} |"
    )
    print(f"\nExport + int8 quantization, offline, into a fresh folder: {export_s:.1f} s")
    print(f"JSON: {write_json('embed_speed', result)}")


if __name__ == "__main__":
    main()
