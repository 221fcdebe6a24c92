"""Judges: propose a name, definition and members per cluster; measure judge–human agreement.

A pure library: no database, no web, no settings.

``KeywordJudge`` and ``OpenAIJudge`` are imported on first use (PEP 562): importing
``judges.agreement`` or the protocol types does not load the openai SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from judges.judge import (
    CategoryProposal,
    ClusterSample,
    ContrastCluster,
    ExistingCategory,
    Judge,
    SampleNote,
)

if TYPE_CHECKING:
    from judges.keyword_judge import KeywordJudge
    from judges.openai_judge import OpenAIJudge

__all__ = [
    "CategoryProposal",
    "ClusterSample",
    "ContrastCluster",
    "ExistingCategory",
    "Judge",
    "KeywordJudge",
    "OpenAIJudge",
    "SampleNote",
]


def __getattr__(name: str) -> Any:
    """Import the judges themselves when first used."""
    if name == "KeywordJudge":
        from judges import keyword_judge

        globals()[name] = keyword_judge.KeywordJudge
    elif name == "OpenAIJudge":
        from judges import openai_judge

        globals()[name] = openai_judge.OpenAIJudge
    else:
        raise AttributeError(f"module 'judges' has no attribute {name!r}")
    return globals()[name]
