"""An LLM judge on the official ``openai`` SDK: any OpenAI-compatible endpoint works.

For each cluster it sends the fixed task (``judges/prompts/judge_v1.txt``) and the cluster as
delimited JSON data (representative and boundary notes, keywords, contrast notes of the nearest
clusters, the project's confirmed categories), asks for a strict JSON-schema reply (JSON mode
for servers without it) and validates it with :class:`~judges.llm_reply.JudgeReply`.

Failure is honest: calls run concurrently, retry with backoff, and respect a per-run budget; a
cluster whose call still fails or whose reply does not validate is named by the keyword judge
and marked ``judge_failed`` with the reason. No two proposals of a run keep the same or
nearly the same name: the later one is asked again with the clash shown, and suffixed with a
distinguishing keyword if it still clashes.

Example::

    client = openai.OpenAI(base_url="http://127.0.0.1:8080/v1", api_key="not-needed")
    judge = OpenAIJudge(client, model="qwen2.5-7b-instruct", concurrency=2)
    proposals = judge.propose(samples, categories)
    [p.name for p in proposals if p.judge_failed]  # keyword-named, with failure_reason
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import Any

import openai

from judges.judge import CategoryProposal, ClusterSample, ExistingCategory, ProgressCallback
from judges.judge_prompt import JudgePrompt, Message
from judges.keyword_judge import KeywordJudge
from judges.llm_calls import (
    BudgetExhausted,
    CallFailed,
    CallRecord,
    ChatCaller,
    Completion,
    RetryPolicy,
    RunState,
)
from judges.llm_reply import (
    JudgeReply,
    JudgeReplyInvalid,
    name_key,
    names_clash,
    parse_reply,
    reply_json_schema,
)

DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True, slots=True)
class _Offered:
    category_ids: frozenset[int]
    member_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class _Sampled:
    reply: JudgeReply
    completion: Completion


def _offered(sample: ClusterSample, categories: Sequence[ExistingCategory]) -> _Offered:
    return _Offered(
        category_ids=frozenset(c.category_id for c in categories),
        member_ids=frozenset(n.note_id for n in sample.members),
    )


def _majority(sampled: Sequence[_Sampled]) -> tuple[_Sampled, int]:
    """The first reply of the largest group of same-or-near-same names, and its size."""
    groups: list[list[_Sampled]] = []
    for item in sampled:
        group = next((g for g in groups if names_clash(g[0].reply.name, item.reply.name)), None)
        if group is None:
            groups.append([item])
        else:
            group.append(item)
    best = max(groups, key=len)
    return best[0], len(best)


def _apply(
    proposal: CategoryProposal, reply: JudgeReply, sample: ClusterSample
) -> CategoryProposal:
    misfits = set(reply.misfit_note_ids)
    return replace(
        proposal,
        name=reply.name,
        definition=reply.full_definition(),
        member_note_ids=tuple(n.note_id for n in sample.members if n.note_id not in misfits),
        misfit_note_ids=tuple(n.note_id for n in sample.members if n.note_id in misfits),
        matched_category_id=reply.existing_category_id,
    )


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


class OpenAIJudge:
    """Names clusters with an LLM behind any OpenAI-compatible chat-completions endpoint.

    Args:
        client: an ``openai.OpenAI`` client (its own retries are switched off; this judge
            retries, so that every attempt is recorded).
        model: model name sent to the endpoint.
        temperature: sampling temperature.
        timeout_s: timeout of one HTTP call.
        max_retries: retries per call on 429, 5xx, timeouts and connection errors.
        backoff_base_s: first backoff, doubled per retry, with jitter.
        backoff_max_s: longest computed backoff.
        retry_after_max_s: longest ``Retry-After`` honoured.
        concurrency: clusters judged at once.
        name_samples: replies sampled per cluster; the majority name is kept and the share
            of samples that agree with it is the proposal's confidence (with 1 sample the
            confidence is 1.0 and says nothing).
        max_calls: budget of HTTP calls per run (retries and re-asks count).
        max_tokens: budget of tokens per run (checked before each call).
        max_reply_tokens: ``max_tokens`` sent with each call, if set.
        prompt: the prompt template; defaults to ``judges/prompts/judge_v1.txt``.
        sleep: how to wait between retries (tests pass a recorder).
        seed: seed of the backoff jitter.
    """

    def __init__(
        self,
        client: openai.OpenAI,
        model: str = DEFAULT_MODEL,
        *,
        temperature: float = 0.0,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 20.0,
        retry_after_max_s: float = 60.0,
        concurrency: int = 4,
        name_samples: int = 1,
        max_calls: int = 500,
        max_tokens: int = 2_000_000,
        max_reply_tokens: int | None = None,
        prompt: JudgePrompt | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        if concurrency < 1 or name_samples < 1 or max_retries < 0:
            raise ValueError("concurrency and name_samples must be >= 1, max_retries >= 0")
        self.model, self.temperature, self.timeout_s = model, temperature, timeout_s
        self.concurrency, self.name_samples = concurrency, name_samples
        self.max_calls, self.max_tokens = max_calls, max_tokens
        self.max_reply_tokens = max_reply_tokens
        self.prompt = prompt or JudgePrompt.load()
        policy = RetryPolicy(max_retries, backoff_base_s, backoff_max_s, retry_after_max_s)
        self.caller = ChatCaller(client, policy, sleep, random.Random(seed))
        self.schema = reply_json_schema()
        self.judge_id = f"openai:{model}"
        self.judge_version = (
            f"openai:{model}/prompt-{self.prompt.sha256[:12]}/t{temperature:g}/k{name_samples}"
        )

    def propose(
        self,
        samples: Sequence[ClusterSample],
        categories: Sequence[ExistingCategory],
        on_progress: ProgressCallback | None = None,
    ) -> list[CategoryProposal]:
        """One proposal per sample, same order; failed clusters are keyword-named and marked.

        Args:
            samples: the clusters of the run.
            categories: the project's confirmed categories, offered for matching.
            on_progress: called with the number of clusters judged so far.

        Returns:
            The proposals, with distinct names.
        """
        run = RunState(self.max_calls, self.max_tokens)
        proposals: list[CategoryProposal | None] = [None] * len(samples)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {
                pool.submit(self._judge_safely, sample, categories, run): i
                for i, sample in enumerate(samples)
            }
            for done, future in enumerate(as_completed(futures), start=1):
                proposals[futures[future]] = future.result()
                if on_progress is not None:
                    on_progress(done)
        judged = [p for p in proposals if p is not None]
        return self._distinct_names(judged, samples, categories, run)

    def _request(self, messages: Sequence[Message]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self.temperature,
            "timeout": self.timeout_s,
        }
        if self.max_reply_tokens is not None:
            request["max_tokens"] = self.max_reply_tokens
        return request

    def _judge_safely(
        self, sample: ClusterSample, categories: Sequence[ExistingCategory], run: RunState
    ) -> CategoryProposal:
        try:
            return self._judge(sample, categories, run)
        except Exception as exc:  # one bad cluster must never fail the run
            reason = f"unexpected error: {type(exc).__name__}: {exc}"
            return self._failed(sample, categories, reason, {"judge_version": self.judge_version})

    def _judge(
        self, sample: ClusterSample, categories: Sequence[ExistingCategory], run: RunState
    ) -> CategoryProposal:
        started, record = time.perf_counter(), CallRecord()
        request = self._request(self.prompt.messages(sample, categories))
        sampled, failures = self._sample(request, _offered(sample, categories), run, record)
        audit = self._audit(record, started, request)
        if not sampled:
            last = failures[-1]
            audit.update({"request": last.get("request", request), "reply": last.get("reply")})
            if len(failures) > 1:
                audit["samples"] = failures
            return self._failed(sample, categories, last["error"], audit)
        chosen, agree = _majority(sampled)
        c = chosen.completion
        audit.update(
            {"request": c.request, "reply": c.content, "response_format": c.response_format}
        )
        if self.name_samples > 1:
            audit["samples"] = [
                {"name": s.reply.name, "reply": s.completion.content} for s in sampled
            ]
            audit["samples"] += failures
        base = CategoryProposal(name="", definition="", member_note_ids=(), audit=audit)
        proposal = _apply(base, chosen.reply, sample)
        return replace(proposal, confidence=round(agree / self.name_samples, 4))

    def _sample(
        self, request: dict[str, Any], offered: _Offered, run: RunState, record: CallRecord
    ) -> tuple[list[_Sampled], list[dict[str, Any]]]:
        """Ask ``name_samples`` times; return the valid replies and the failures."""
        sampled: list[_Sampled] = []
        failures: list[dict[str, Any]] = []
        for _ in range(self.name_samples):
            try:
                completion = self.caller.complete(request, self.schema, run, record)
            except CallFailed as exc:
                failures.append({"error": str(exc)})
                if run.fatal is not None or isinstance(exc, BudgetExhausted):
                    break  # fatal endpoint error or budget spent: no more samples
                continue
            try:
                reply = parse_reply(completion.content, offered.category_ids, offered.member_ids)
            except JudgeReplyInvalid as exc:
                failed = {"error": str(exc), "reply": completion.content}
                failures.append({**failed, "request": completion.request})
                continue
            sampled.append(_Sampled(reply, completion))
        return sampled, failures

    def _audit(self, record: CallRecord, started: float, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "judge_version": self.judge_version,
            "request": request,
            "reply": None,
            "attempts": record.attempts,
            "tokens": record.tokens(),
            "latency_ms": _ms(started),
            "errors": list(record.errors),
            "waits_s": list(record.waits_s),
        }

    @staticmethod
    def _failed(
        sample: ClusterSample,
        categories: Sequence[ExistingCategory],
        reason: str,
        audit: dict[str, Any],
    ) -> CategoryProposal:
        fallback = KeywordJudge().propose([sample], categories)[0]
        audit = {**audit, "keyword_fallback": fallback.audit}
        return replace(fallback, judge_failed=True, failure_reason=reason, audit=audit)

    def _distinct_names(
        self,
        proposals: Sequence[CategoryProposal],
        samples: Sequence[ClusterSample],
        categories: Sequence[ExistingCategory],
        run: RunState,
    ) -> list[CategoryProposal]:
        """Resolve same-or-near-same names: earlier proposals keep theirs."""
        kept: list[CategoryProposal] = []
        kept_samples: list[ClusterSample] = []
        for proposal, sample in zip(proposals, samples, strict=True):
            clash = _first_clash(proposal.name, kept)
            if clash is not None and not proposal.judge_failed:
                proposal = self._rename(proposal, sample, categories, kept[clash].name, run)
                clash = _first_clash(proposal.name, kept)
            if clash is not None:
                name = _suffixed(proposal.name, sample, kept_samples[clash], kept)
                note = {"from": proposal.name, "clash_with": kept[clash].name, "to": name}
                proposal = replace(proposal, name=name, audit={**proposal.audit, "suffixed": note})
            kept.append(proposal)
            kept_samples.append(sample)
        return kept

    def _rename(
        self,
        proposal: CategoryProposal,
        sample: ClusterSample,
        categories: Sequence[ExistingCategory],
        taken: str,
        run: RunState,
    ) -> CategoryProposal:
        """Ask again with the clash shown; keep the old reply if the new one fails."""
        started, record = time.perf_counter(), CallRecord()
        audit = dict(proposal.audit)
        messages = self.prompt.rename_messages(
            audit["request"]["messages"], audit.get("reply") or "", taken
        )
        outcome: dict[str, Any] = {"from": proposal.name, "clash_with": taken}
        renamed = proposal
        try:
            completion = self.caller.complete(self._request(messages), self.schema, run, record)
            outcome.update(request=completion.request, reply=completion.content)
            offered = _offered(sample, categories)
            reply = parse_reply(completion.content, offered.category_ids, offered.member_ids)
            renamed = _apply(proposal, reply, sample)
        except (CallFailed, JudgeReplyInvalid) as exc:
            outcome["error"] = str(exc)
        tokens = record.tokens()
        audit["tokens"] = {k: audit["tokens"][k] + tokens[k] for k in tokens}
        audit["attempts"] += record.attempts
        audit["latency_ms"] += _ms(started)
        audit["errors"] = [*audit["errors"], *record.errors]
        audit["rename"] = {**outcome, "attempts": record.attempts, "tokens": tokens}
        return replace(renamed, audit=audit)


def _first_clash(name: str, kept: Sequence[CategoryProposal]) -> int | None:
    return next((i for i, p in enumerate(kept) if names_clash(name, p.name)), None)


def _suffixed(
    name: str, sample: ClusterSample, other: ClusterSample, kept: Sequence[CategoryProposal]
) -> str:
    """``name (keyword)`` with the first keyword that sets this cluster apart, else ``name (2)``.

    A suffixed name is only checked for exact (normalised) collisions: it is distinct by
    construction, though it shares the words of the name it clashed with.
    """
    used = set(name_key(name).split())
    taken = {name_key(p.name) for p in kept}
    for keyword in sample.keywords:
        words = set(name_key(keyword).split())
        if not words or words <= used or keyword in other.keywords[:5]:
            continue
        candidate = f"{name} ({keyword})"
        if name_key(candidate) not in taken:
            return candidate
    n = 2
    while name_key(f"{name} ({n})") in taken:
        n += 1
    return f"{name} ({n})"
