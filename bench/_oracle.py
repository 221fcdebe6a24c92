"""The oracle reviewer: a perfect reviewer who knows every note's gold label, and what it pays.

It reviews one run at a time through a :class:`Board` (the real HTTP API in ``bench/effort.py``,
or an in-memory board for partitions axial never served, such as BERTopic's) and counts:

- **calls**: one per review action, whatever number of notes it moves;
- **notes placed one by one**: notes the reviewer had to pick out by hand (moved, assigned,
  split off, put into a new category from selected notes);
- renames apart (the offline judge's names are never kept, so every new category is renamed).

Effort = calls + 0.5 × notes placed. The policy, run in the same order for every method:

0. On a board that can **file notes from anywhere** (``POST /runs/{id}/notes/file``, the run's
   "File notes" page): each label that has a category gets, in one call, its notes that are
   unclustered or a minority of some pending proposal (kind ``file``); without it they are
   assigned and moved below, one call per place they sit in.
1. Each pending proposal's **majority** label (ties: a label that has a category, then the
   label name).
2. **Unclustered** notes, by label: into the label's category if it has one, else into a pending
   proposal whose majority is that label, else kept for step 4.
3. Proposals, **largest first**, until none is pending: the notes of other labels are moved to
   their label's category or to a pending proposal whose majority is their label; notes of labels
   with neither become a new category each, from those notes (one call per label: cheaper than
   splitting them off, one call, and confirming each group, one call each); on a board that
   cannot create categories they are split off, one group per label (a split, then each group is
   a proposal of its own). A pure proposal is merged into its label's category, or confirmed (as
   a new category when its label has none yet; a carry-over proposal into the category it
   matched). On a board that can file notes, a new category from a proposal then gets the
   label's notes that are unclustered or a minority of other pending proposals, in one call.
4. Labels left with notes but no category or proposal: a new category from those notes when the
   board can create one; otherwise counted at the by-hand price and reported as ``no_way``.

"By hand" for a week = one call per label present + every note placed by hand.

Every action's effort is also booked under a **kind** (:attr:`Cost.kinds`), to see where a
week's effort goes: ``carry_confirm`` (accepting carry-over proposals), ``carry_stray`` (notes
moved out of carry-over proposals), ``missed`` (notes of a label that had a category when the
week began but were not carried over: ``missed_assign`` assigned from unclustered,
``missed_move`` moved out of new proposals, ``missed_merge`` their new proposal merged into
the category), ``carry_wrong`` (a carry-over proposal
whose notes are mostly of another category, merged there), ``new_label`` (categories for
labels the codebook did not have: confirms, categories from notes, and placing their notes),
``split``, and ``file`` (step 0: known labels' notes filed from wherever they sat).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

MAX_GROUPS = 9  # the service's split limit


@dataclass(frozen=True, slots=True)
class Prop:
    """A pending proposal as a reviewer sees it."""

    id: int
    members: tuple[int, ...]
    matched_category_id: int | None = None
    carry_over: bool = False


@dataclass
class Cost:
    """What reviewing cost: calls, notes placed one by one, renames, and what had no way."""

    calls: int = 0
    placed: int = 0
    renames: int = 0
    no_way_notes: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)  # effort per kind (module docstring)

    @property
    def effort(self) -> float:
        return self.calls + 0.5 * self.placed

    def add(self, action: str, placed: int = 0, kind: str = "other") -> None:
        self.calls += 1
        self.placed += placed
        self.actions[action] += 1
        self.kinds[kind] += 1 + 0.5 * placed

    def to_json(self) -> dict[str, object]:
        return {
            "calls": self.calls,
            "placed": self.placed,
            "effort": self.effort,
            "renames": self.renames,
            "no_way_notes": self.no_way_notes,
            "actions": dict(self.actions),
            "kinds": dict(self.kinds),
        }


class Board(Protocol):
    """One run's review, as the oracle acts on it."""

    def pending(self) -> list[Prop]: ...
    def unclustered(self) -> list[int]: ...
    def move(
        self, prop: int, notes: list[int], *, category: int | None, proposal: int | None
    ) -> None: ...
    def assign(self, notes: list[int], *, category: int | None, proposal: int | None) -> None: ...
    def merge(self, prop: int, category: int) -> None: ...
    def confirm(self, prop: int, name: str, *, into_matched: bool) -> int: ...
    def split(self, prop: int, groups: list[list[int]]) -> None: ...
    def create_category(self, name: str, notes: list[int]) -> int | None: ...
    def file_notes(self, notes: list[int], category: int) -> bool:
        """File these notes into a confirmed category in one call, from wherever they are in
        the run (unclustered or pending proposals); False when the board has no such action."""
        ...

    def confirm_matched(self, props: list[int]) -> bool:
        """Confirm these carry-over proposals into their matched categories in one call;
        False when the board has no such action (then each is confirmed on its own)."""
        ...


def majority(members: Sequence[int], gold: Mapping[int, str], codebook: Mapping[str, int]) -> str:
    counts = Counter(gold[n] for n in members)
    return min(counts, key=lambda lab: (-counts[lab], lab not in codebook, lab))


def by_label(notes: Sequence[int], gold: Mapping[int, str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for n in notes:
        groups[gold[n]].append(n)
    return dict(sorted(groups.items()))


def _home(
    label: str, codebook: Mapping[str, int], owners: Mapping[str, int], skip: int | None = None
) -> tuple[int | None, int | None]:
    """Where notes of ``label`` go: (category, None), (None, proposal) or (None, None)."""
    if label in codebook:
        return codebook[label], None
    owner = owners.get(label)
    return (None, owner) if owner is not None and owner != skip else (None, None)


def _owners(
    props: Sequence[Prop], gold: Mapping[int, str], codebook: Mapping[str, int]
) -> dict[str, int]:
    owners: dict[str, int] = {}
    for p in sorted(props, key=lambda p: (-len(p.members), p.id)):
        owners.setdefault(majority(p.members, gold, codebook), p.id)
    return owners


def review(board: Board, gold: Mapping[int, str], codebook: dict[str, int], cost: Cost) -> None:
    """Review one run to the end, perfectly; ``codebook`` (label → category id) is updated."""
    leftovers: dict[str, list[int]] = defaultdict(list)
    known = set(codebook)  # labels with a category when the week began

    def kind(label: str, how: str) -> str:
        return f"missed_{how}" if label in known else "new_label"

    _file_known(board, gold, codebook, cost)
    owners = _owners(board.pending(), gold, codebook)
    for label, notes in by_label(board.unclustered(), gold).items():
        category, proposal = _home(label, codebook, owners)
        if category is None and proposal is None:
            leftovers[label].extend(notes)
            continue
        board.assign(notes, category=category, proposal=proposal)
        cost.add("assign", len(notes), kind(label, "assign"))
    accepted: list[int] = []  # pure carry-over proposals of their label's category
    while props := [p for p in board.pending() if p.id not in accepted]:
        p = min(props, key=lambda p: (-len(p.members), p.id))
        owners = _owners(props, gold, codebook)
        main = majority(p.members, gold, codebook)
        strays: list[list[int]] = []
        for label, notes in by_label(p.members, gold).items():
            if label == main:
                continue
            category, proposal = _home(label, codebook, owners, skip=p.id)
            if category is None and proposal is None:
                strays.append(notes)
                continue
            board.move(p.id, notes, category=category, proposal=proposal)
            cost.add("move", len(notes), "carry_stray" if p.carry_over else kind(label, "move"))
        if strays and _create_each(board, strays, gold, codebook, cost):
            strays = []
        if strays:
            keep = [n for n in p.members if gold[n] == main]
            rest = [n for group in strays[MAX_GROUPS - 2 :] for n in group]
            groups = [*strays[: MAX_GROUPS - 2], rest]
            groups = [g for g in groups if g]
            board.split(p.id, [keep, *groups])
            cost.add("split", sum(len(g) for g in groups), "split")
            continue
        if main in codebook:
            if p.carry_over and p.matched_category_id == codebook[main]:
                accepted.append(p.id)
            else:
                board.merge(p.id, codebook[main])
                cost.add("merge", 0, "carry_wrong" if p.carry_over else kind(main, "merge"))
        else:
            codebook[main] = board.confirm(p.id, main, into_matched=False)
            cost.add("confirm", 0, "new_label")
            cost.renames += 1
            _sweep(board, main, gold, codebook, cost)
    if accepted and board.confirm_matched(accepted):
        cost.add("confirm_matched", 0, "carry_confirm")
    else:
        for prop in accepted:
            board.confirm(prop, "", into_matched=True)
            cost.add("confirm", 0, "carry_confirm")
    for label, notes in sorted(leftovers.items()):
        if label in codebook:  # a category made for it since (step 3)
            board.assign(notes, category=codebook[label], proposal=None)
            cost.add("assign", len(notes), kind(label, "assign"))
            continue
        created = board.create_category(label, notes)
        cost.add("new_category", len(notes), "new_label")
        if created is None:
            cost.no_way_notes += len(notes)
        else:
            codebook[label] = created


def _file_known(
    board: Board, gold: Mapping[int, str], codebook: Mapping[str, int], cost: Cost
) -> None:
    """On a board that can file notes from anywhere: each label with a category gets, in one
    call, its notes that are unclustered or a minority of some pending proposal."""
    props = board.pending()
    out: dict[str, list[int]] = defaultdict(list)
    for label, notes in by_label(board.unclustered(), gold).items():
        out[label].extend(notes)
    for p in props:
        main = majority(p.members, gold, codebook)
        for label, notes in by_label(p.members, gold).items():
            if label != main:
                out[label].extend(notes)
    for label, notes in sorted(out.items()):
        if label in codebook and notes:
            if not board.file_notes(notes, codebook[label]):
                return
            cost.add("file", len(notes), "file")


def _sweep(
    board: Board, label: str, gold: Mapping[int, str], codebook: Mapping[str, int], cost: Cost
) -> None:
    """Once ``label`` has a category: its notes that are unclustered or a minority of some
    pending proposal, filed there in one call (on a board that can)."""
    notes = [n for n in board.unclustered() if gold[n] == label]
    for p in board.pending():
        if majority(p.members, gold, codebook) != label:
            notes += [n for n in p.members if gold[n] == label]
    if notes and board.file_notes(notes, codebook[label]):
        cost.add("file", len(notes), "new_label")


def _create_each(
    board: Board,
    groups: list[list[int]],
    gold: Mapping[int, str],
    codebook: dict[str, int],
    cost: Cost,
) -> bool:
    """A new category from each group's notes (one label per group); False, with nothing done,
    on a board that cannot create categories."""
    for notes in groups:
        created = board.create_category(gold[notes[0]], notes)
        if created is None:
            return False
        codebook[gold[notes[0]]] = created
        cost.add("new_category", len(notes), "new_label")
    return True


def by_hand(notes: Sequence[int], gold: Mapping[int, str]) -> Cost:
    """One "new category from these notes" (or "add to it") call per label, every note by hand."""
    cost = Cost()
    for _label, group in by_label(notes, gold).items():
        cost.add("by_hand", len(group), "by_hand")
    return cost


class MemoryBoard:
    """A run's review in memory: proposals from any partition, categories shared across weeks."""

    def __init__(
        self,
        clusters: Mapping[int, Sequence[int]],
        unclustered: Sequence[int],
        categories: dict[int, set[int]],
        can_create: bool = True,
        carried: Mapping[int, Sequence[int]] | None = None,
        bulk: bool = True,
        file: bool = True,
    ) -> None:
        self.file = file
        self.props: dict[int, list[int]] = {}
        self.matched: dict[int, int] = {}
        self._ids = iter(range(1, 1 << 30))
        for members in clusters.values():
            if members:
                self.props[next(self._ids)] = list(members)
        for category, notes in (carried or {}).items():
            pid = next(self._ids)
            self.props[pid], self.matched[pid] = list(notes), category
        self.noise = list(unclustered)
        self.categories = categories
        self.can_create = can_create
        self.bulk = bulk

    def _put(self, notes: list[int], category: int | None, proposal: int | None) -> None:
        if category is not None:
            self.categories[category].update(notes)
        elif proposal is not None:
            self.props[proposal].extend(notes)

    def pending(self) -> list[Prop]:
        return [
            Prop(pid, tuple(m), self.matched.get(pid), pid in self.matched)
            for pid, m in self.props.items()
            if m
        ]

    def unclustered(self) -> list[int]:
        return list(self.noise)

    def move(
        self, prop: int, notes: list[int], *, category: int | None, proposal: int | None
    ) -> None:
        self.props[prop] = [n for n in self.props[prop] if n not in set(notes)]
        self._put(notes, category, proposal)

    def assign(self, notes: list[int], *, category: int | None, proposal: int | None) -> None:
        self.noise = [n for n in self.noise if n not in set(notes)]
        self._put(notes, category, proposal)

    def merge(self, prop: int, category: int) -> None:
        self.categories[category].update(self.props.pop(prop))

    def confirm(self, prop: int, name: str, *, into_matched: bool) -> int:
        if into_matched:
            category = self.matched[prop]
            self.categories[category].update(self.props.pop(prop))
            return category
        new = max(self.categories, default=0) + 1
        self.categories[new] = set(self.props.pop(prop))
        return new

    def split(self, prop: int, groups: list[list[int]]) -> None:
        del self.props[prop]
        for group in groups:
            self.props[next(self._ids)] = list(group)

    def confirm_matched(self, props: list[int]) -> bool:
        if not self.bulk:
            return False
        for prop in props:
            self.confirm(prop, "", into_matched=True)
        return True

    def file_notes(self, notes: list[int], category: int) -> bool:
        if not self.file:
            return False
        taken = set(notes)
        self.categories[category].update(taken)
        self.noise = [n for n in self.noise if n not in taken]
        for pid, members in self.props.items():
            self.props[pid] = [n for n in members if n not in taken]
        return True

    def create_category(self, name: str, notes: list[int]) -> int | None:
        if not self.can_create:
            return None
        new = max(self.categories, default=0) + 1
        self.categories[new] = set(notes)
        taken = set(notes)  # from wherever they are: unclustered or pending proposals
        self.noise = [n for n in self.noise if n not in taken]
        for pid, members in self.props.items():
            self.props[pid] = [n for n in members if n not in taken]
        return new
