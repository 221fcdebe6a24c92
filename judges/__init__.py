"""Judges: propose a name, definition and members per cluster; measure judge–human agreement.

A pure library: no database, no web, no settings.
"""

from judges.judge import (
    CategoryProposal,
    ClusterSample,
    ContrastCluster,
    ExistingCategory,
    Judge,
    SampleNote,
)
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
