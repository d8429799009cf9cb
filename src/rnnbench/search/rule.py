"""Which length to train next, with which seeds and budget, and when a critical length is found.

Per task x model, over lengths T in [floor, cap] (params `search`):
1. Bracket: start at `start`; while the model solves T (at least half the study's seeds), double
   it (never past `cap`); while it fails, halve it (never below `floor`).
2. Narrow: with `lo` the longest solved length below `hi`, the shortest failed one, train their
   geometric midpoint until hi / lo <= `resolution` or they are adjacent integers.
3. Seeds as the decision needs them: a length first trains the `need` = ceil(n / 2) first study seeds
   (3 of 5); the others only when those leave "at least half of n" open. A decided length never
   changes with more seeds, so stopping early costs no accuracy, only seeds.
4. The lengths that bound the answer get every seed, and a failure at `hi` must survive a larger
   budget: `budget_factor` times the larger of the base budget and the slowest solve at `lo` (what
   the solved neighbour needed: the steps a model needs grow with T, so a multiple of a fixed
   budget would decide where a slow learner "stops"), up to `budget_ceiling` base budgets. Its
   failed seeds train on to that many steps, and a seed counts solved when it solved under either
   budget. If `hi` turns out solved, the bracket moves and the search goes on; so no reading rests
   on a failure one budget decided. Where the ceiling cut the confirming budget short, the answer
   is `budget_bound`: its `hi` is a failure at the ceiling, not beyond doubt.
Censoring: solved at `cap` (lo = cap, hi None: "≥ cap") or failed at `floor` (lo None: "< floor").

The lr of each length comes from a sweep on the tuning seeds (search/runner.py, with the ladder
rules of training/tuning.py): the ladder's rungs around the lr chosen at the nearest length already
tuned (`nearest_tuned`), extended past whichever end wins, up to the ladder's ends, the stated bounds,
and to both sides while no rung solves or learns.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class SearchRange:
    start: int
    floor: int
    cap: int
    seeds: tuple[int, ...]       # the study's seeds, in the order they are added
    resolution: float = 1.25     # stop narrowing when hi / lo is at most this
    budget_factor: int = 3       # the larger budget a failure at hi must survive, x the slowest solve at lo
    steps: int = 3000            # the base budget: every run's first
    budget_ceiling: int = 3      # the most a confirming budget may be, in base budgets

    @property
    def need(self) -> int:
        """Solved seeds that make a length solved: at least half of them."""
        return math.ceil(len(self.seeds) / 2)


@dataclass
class LengthRuns:
    """The outcomes at one length: seed -> solved, under the base budget and the larger one, and
    for each solved seed the steps its solve took (its first evaluation that met the rule)."""
    base: dict[int, bool] = field(default_factory=dict)
    extended: dict[int, bool] = field(default_factory=dict)
    solve_steps: dict[int, int] = field(default_factory=dict)

    @property
    def solved(self) -> int:
        return sum(ok or self.extended.get(seed, False) for seed, ok in self.base.items())

    @property
    def seeds(self) -> int:
        return len(self.base)


SOLVED, FAILED = "solved", "failed"


def decision(runs: LengthRuns, search: SearchRange) -> str | None:
    """SOLVED once `need` seeds solved, FAILED once that can no longer happen, else None."""
    if runs.solved >= search.need:
        return SOLVED
    if runs.seeds - runs.solved > len(search.seeds) - search.need:
        return FAILED
    return None


@dataclass(frozen=True)
class Train:
    length: int
    seeds: tuple[int, ...]
    steps: int              # the budget: the base one, or a confirming one (`confirming_steps`)
    extended: bool = False  # a confirming budget: these seeds' base runs, trained on


@dataclass(frozen=True)
class Found:
    lo: int | None   # the longest length solved below hi (None: failed at floor)
    hi: int | None   # the shortest length failed (None: solved at cap)
    budget_bound: bool = False  # hi's confirming budget was cut to the ceiling

    @property
    def censored(self) -> str:
        return "above" if self.hi is None else "below" if self.lo is None else "none"


def bracket(outcomes: Mapping[int, LengthRuns], search: SearchRange) -> tuple[int | None, int | None]:
    decided = {length: decision(runs, search) for length, runs in outcomes.items()}
    failed = [length for length, d in decided.items() if d == FAILED]
    hi = min(failed) if failed else None
    solved = [length for length, d in decided.items() if d == SOLVED and (hi is None or length < hi)]
    return (max(solved) if solved else None), hi


def next_step(outcomes: Mapping[int, LengthRuns], search: SearchRange) -> Train | Found:
    """The next runs of the search, given every outcome so far, or its answer."""
    if not outcomes:
        return Train(search.start, search.seeds[:search.need], search.steps)
    for length, runs in sorted(outcomes.items()):
        if decision(runs, search) is None:  # open: add the seeds it has not run
            return Train(length, missing_seeds(runs, search), search.steps)
    lo, hi = bracket(outcomes, search)
    first = search.seeds[:search.need]
    if hi is None and lo < search.cap:
        return Train(min(2 * lo, search.cap), first, search.steps)
    if lo is None and hi > search.floor:
        return Train(max(hi // 2, search.floor), first, search.steps)
    if lo is not None and hi is not None and hi / lo > search.resolution and hi - lo > 1:
        middle = min(max(round(math.sqrt(lo * hi)), lo + 1), hi - 1)
        return Train(middle, first, search.steps)
    for length in (hi, lo):  # the bounds of the answer: every seed
        if length is not None and outcomes[length].seeds < len(search.seeds):
            return Train(length, missing_seeds(outcomes[length], search), search.steps)
    if hi is None:
        return Found(lo, hi)
    steps, bound = confirming_steps(outcomes.get(lo) if lo is not None else None, search)
    unconfirmed = tuple(seed for seed, ok in outcomes[hi].base.items()  # hi's failures must survive it
                        if not ok and seed not in outcomes[hi].extended)
    if unconfirmed:
        return Train(hi, unconfirmed, steps, extended=True)
    return Found(lo, hi, bound)


def confirming_steps(lo: LengthRuns | None, search: SearchRange) -> tuple[int, bool]:
    """The budget a failure at hi must survive: budget_factor x the larger of the base budget and the
    slowest solve at lo (no lo: the base budget), and whether the ceiling cut it."""
    slowest = max(lo.solve_steps.values(), default=0) if lo is not None else 0
    wanted = search.budget_factor * max(search.steps, slowest)
    ceiling = search.budget_ceiling * search.steps
    return min(wanted, ceiling), wanted > ceiling


def missing_seeds(runs: LengthRuns, search: SearchRange) -> tuple[int, ...]:
    return tuple(seed for seed in search.seeds if seed not in runs.base)


# --- the lr of a length ------------------------------------------------------------------------
def nearest_tuned(length: int, tuned: Mapping[int, float]) -> float | None:
    """The lr chosen at the tuned length nearest to `length` in log T (the shorter on a tie)."""
    if not tuned:
        return None
    return tuned[min(tuned, key=lambda t: (abs(math.log(t / length)), t))]
