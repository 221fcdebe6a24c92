"""Build the run's judge from settings: the LLM judge when configured, else the keyword judge.

The only place that turns ``Settings`` into a judge: the ``judges`` library never sees them.
"""

from __future__ import annotations

import openai

from judges.judge import Judge
from judges.keyword_judge import KeywordJudge
from judges.openai_judge import OpenAIJudge
from service.settings import Settings

NO_KEY = "not-needed"
"""Sent as the API key to servers that need none (vLLM, Ollama, llama.cpp's server)."""


def build_judge(settings: Settings) -> Judge:
    """The judge for new runs.

    Args:
        settings: ``openai_*`` and ``judge_*`` settings.

    Returns:
        :class:`KeywordJudge` when no endpoint or key is configured; otherwise an
        :class:`OpenAIJudge` whose client does not retry (the judge does, and records it).
    """
    if not settings.judge_configured:
        return KeywordJudge()
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    client = openai.OpenAI(
        base_url=settings.openai_base_url,
        api_key=key or NO_KEY,
        timeout=settings.openai_timeout_s,
        max_retries=0,
    )
    return OpenAIJudge(
        client,
        settings.openai_model,
        temperature=settings.openai_temperature,
        timeout_s=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
        concurrency=settings.openai_concurrency,
        name_samples=settings.openai_name_samples,
        max_calls=settings.judge_max_calls,
        max_tokens=settings.judge_max_tokens,
    )
