"""Review notes of a support assistant, week after week: four recurring failures and a new one.

Each failure is written in several ways, with its details (days, amounts, languages, links)
drawn from a seeded generator, so week 2's notes of a failure resemble week 1's as a
reviewer's notes of one recurring failure do, without repeating them. ``TONE`` only appears
from week 2 (a failure the codebook does not have yet) and ``STRANGER`` belongs to no failure
of this product at all.
"""

from __future__ import annotations

import random

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
LANGUAGES = ["Spanish", "German", "French", "Italian", "Portuguese", "Dutch"]
LINKS = [
    "help.example.com/returns-v2",
    "example.com/support/refund-form",
    "docs.example.com/kb/4412",
    "example.com/help/track-order",
    "support.example.com/faq/cancel",
]
FAILURES = {
    "Date arithmetic": [
        "Asked for next {d}, the assistant booked the {d} after that, a week late.",
        "It computed 10 days from the {n}th as the {m}th; the day count is off by one.",
        "The reminder for {d} was set for {e} because it ignored the user's time zone.",
        "Said {d} the {n}th, but the {n}th is a {e} this month.",
        "Scheduled the follow-up {n} days out instead of {m} days from the anchor date.",
    ],
    "Wrong refund amount": [
        "Quoted a refund of ${n} when the policy only allows ${m} for this order.",
        "Promised a full refund of ${n} for a used item; policy gives store credit only.",
        "Told the customer the refund would be ${m}, the order total was ${n}.",
        "Refund amount wrong again: ${n} offered instead of the ${m} the policy states.",
        "It said shipping is refundable and added ${m} to the ${n} refund.",
    ],
    "Ignored the user's language": [
        "The user wrote in {lang} and the bot replied in English.",
        "Customer switched to {lang}; the assistant kept answering in English.",
        "Answered a {lang} question in English, ignoring the user's language.",
        "Replied in English to a message written entirely in {lang}.",
        "Asked in {lang}, got the whole answer back in English.",
    ],
    "Invented links": [
        "Linked to a help article URL that does not exist (404).",
        "It invented a support page link, {url}, which returns not found.",
        "Gave a made-up URL {url} for the return form.",
        "The link it cited, {url}, is fabricated and goes nowhere.",
        "Pointed the customer to {url}, a page that never existed.",
    ],
}
TONE = "Rude tone"
TONE_NOTES = [
    "Told the customer their question was stupid and they should read the manual.",
    "The reply was sarcastic and mocked the customer for asking twice.",
    "It scolded the user in a condescending, rude tone for a late payment.",
    "Answered with an insulting remark about the customer's spelling.",
    "Responded rudely: 'obviously you did not read anything we sent you'.",
    "Mocked the customer's complaint and called it ridiculous.",
]
STRANGER = (
    "The quarterly VAT export to the accounting ledger failed with a checksum mismatch on "
    "invoice batch 7."
)


def week(per_failure: int, seed: int) -> list[tuple[str, str]]:
    """(failure, note text) for ``per_failure`` notes of each recurring failure, in order."""
    rng = random.Random(seed)
    out = []
    for failure, patterns in FAILURES.items():
        for i in range(per_failure):
            d, e = rng.sample(DAYS, 2)
            n, m = rng.sample(range(3, 90), 2)
            text = patterns[i % len(patterns)].format(
                d=d, e=e, n=n, m=m, lang=rng.choice(LANGUAGES), url=rng.choice(LINKS)
            )
            out.append((failure, text))
    return out


def second_week(per_failure: int = 6, seed: int = 2) -> list[tuple[str, str]]:
    """Week 2: the recurring failures again, a new one (``TONE``) and ``STRANGER``."""
    return [*week(per_failure, seed), *((TONE, t) for t in TONE_NOTES), ("stranger", STRANGER)]
