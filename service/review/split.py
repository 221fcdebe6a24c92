"""Split a proposal into groups, each a new (immutable) proposal; and suggest a split.

A split creates one ``proposal`` row per group (origin ``split``, ``parent_proposal_id`` the
split proposal, ``created_by_event_id`` the split event) with its ``proposal_member`` rows; the
event records the child ids and the groups, so a replay recreates their pending states.
The suggested split re-clusters the proposal's members with k-means (k=2) on the embeddings
stored for the run's model.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth import Principal
from service.domain import ProposalStatus, ReviewAction
from service.errors import BadInput
from service.review import projection
from service.review.common import (
    MAX_NAME,
    ActionResult,
    Target,
    check_version,
    clean_name,
    load_for_action,
    load_proposal,
    record,
    require_status,
    state_result,
)
from service.review.events import Footprint, SplitAfter, StatusBefore
from service.review.similarity import member_vectors
from service.storage.models import Proposal, ProposalMember

MAX_GROUPS = 9


def _check_groups(groups: list[list[int]], members: list[int]) -> list[list[int]]:
    """Groups must partition the members; each group keeps the members' order."""
    if not 2 <= len(groups) <= MAX_GROUPS:
        raise BadInput(f"split into 2 to {MAX_GROUPS} groups", field="groups")
    seen: dict[int, int] = {}
    for i, group in enumerate(groups):
        if not group:
            raise BadInput(f"group {i + 1} is empty", field="groups")
        for raw in group:
            nid = int(raw)
            if nid in seen:
                raise BadInput(f"note {nid} is in two groups", field="groups")
            seen[nid] = i
    unknown = sorted(set(seen) - set(members))
    missing = [n for n in members if n not in seen]
    if unknown or missing:
        raise BadInput(
            "groups must hold every note of the proposal exactly once"
            + (f"; not members: {unknown}" if unknown else "")
            + (f"; missing: {missing}" if missing else ""),
            field="groups",
        )
    return [[n for n in members if seen[n] == i] for i in range(len(groups))]


def _child(t: Target, name: str, group: list[int]) -> Proposal:
    parent = t.proposal
    return Proposal(
        run_id=t.run.id,
        cluster_id=parent.cluster_id,
        parent_proposal_id=parent.id,
        origin="split",
        name=name,
        definition=t.state.definition,
        keywords=[],
        judge_id=parent.judge_id,
        judge_version=parent.judge_version,
        confidence=0.0,
        misfit_note_ids=[n for n in parent.misfit_note_ids or [] if n in group],
        raw_output={},
    )


def _child_names(t: Target, k: int, names: list[str] | None) -> list[str]:
    if names is not None and len(names) != k:
        raise BadInput("give one name per group (or none)", field="names")
    if names is not None:
        return [clean_name(n, "names") for n in names]
    base = t.state.name[: MAX_NAME - 8]
    return [f"{base} ({i}/{k})" for i in range(1, k + 1)]


def split(
    session: Session,
    principal: Principal,
    proposal_id: int,
    version: int,
    groups: list[list[int]],
    names: list[str] | None = None,
) -> ActionResult:
    """Split a pending proposal into two or more new pending proposals."""
    t = load_for_action(session, principal, proposal_id, version)
    check_version(session, t.state, version)
    require_status(t.state, ProposalStatus.pending)
    members = [int(n) for n in t.state.member_note_ids]
    parts = _check_groups(groups, members)
    labels = _child_names(t, len(parts), names)
    reassigned = set(
        session.scalars(
            select(ProposalMember.note_id).where(
                ProposalMember.proposal_id == proposal_id, ProposalMember.reassigned.is_(True)
            )
        )
    )
    children = [_child(t, label, part) for label, part in zip(labels, parts, strict=True)]
    session.add_all(children)
    session.flush()
    for child, part in zip(children, parts, strict=True):
        session.add_all(
            ProposalMember(proposal_id=child.id, note_id=n, rank=r, reassigned=n in reassigned)
            for r, n in enumerate(part)
        )
    child_ids = [c.id for c in children]
    event = record(
        session, principal, t.run, ReviewAction.split, proposal_id=proposal_id, note_ids=members,
        before=StatusBefore(status=ProposalStatus.pending),
        after=SplitAfter(groups=parts, child_proposal_ids=child_ids),
        touched=Footprint(proposals=[proposal_id], created_proposals=child_ids, notes=members),
    )  # fmt: skip
    for child in children:
        child.created_by_event_id = event.id
    projection.apply_event(session, event, {proposal_id: version})
    return state_result(event, t.state, child_proposal_ids=child_ids, groups=parts)


def suggest_split(session: Session, principal: Principal, proposal_id: int) -> list[list[int]]:
    """Two groups from k-means (k=2, seeded) on the members' stored embeddings.

    Members without a stored embedding join the first group. Raises ``BadInput`` when the
    proposal has fewer than two embedded members or they are all identical.
    """
    import numpy as np  # here, not at the top: read-only CLI commands skip it

    t = load_proposal(session, principal, proposal_id)
    members = [int(n) for n in t.state.member_note_ids]
    vectors = member_vectors(session, t.run, members)
    kept = [n for n in members if n in vectors]
    matrix = np.stack([vectors[n] for n in kept]) if kept else np.zeros((0, 1), np.float32)
    if len(kept) < 2 or np.unique(matrix, axis=0).shape[0] < 2:
        raise BadInput("too few distinct embedded notes to suggest a split", field="proposal_id")
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=2, n_init=10, random_state=0).fit_predict(matrix)
    first = int(labels[0])
    by_note = {n: int(label) for n, label in zip(kept, labels, strict=True)}
    group_a = [n for n in members if by_note.get(n, first) == first]
    group_b = [n for n in members if by_note.get(n, first) != first]
    return [group_a, group_b]
