"""Which length to train next, with which seeds and budget, and when a critical length is found.

Per task x model, over lengths T in [floor, cap] (params `search`):
1. Bracket: start at `start`; while the model solves T (at least half the study's seeds), double
   it (never past `cap`); while it fails, halve it (never below `floor`).
2. Narrow: with `lo` the longest solved length below `hi`, the shortest failed one, train their
   geometric midpoint until hi / lo <= `resolution` or they are adjacent integers.
3. Seeds as the decision needs them: a length first trains the `need` = ceil(n / 2) first study seeds
   (3 of 5); the others only when those leave "at least half of n" open. A decided length never
   changes with more seeds, so stopping early costs no accuracy, only seeds.
4. The lengths that bound the answer get every seed, and a failure at `hi` must survive the
   ceiling budget (`budget_ceiling` base budgets) at the best of the ladder's rungs from hi's own
   lr to the one `lo` was solved at and one rung past each, walked on past a winning end up to the
   ladder's ends, picked on the tuning seeds with that budget (validation only; the runner's sweep,
   `Confirm`). Each part is a measured rule, not a guess (docs/architecture.md, sessions 28-31): a
   budget scaled from lo's slowest solve was outgrown by the RNN's steps (adding T=40 solved at
   12,600-16,400 where 3x T=28's slowest gave 11,400); hi's own lr, chosen in the base budget, was
   a fast lr that one seed solves where lo's slower lr solves every seed (XOR RNN T=20, copy GRU
   T=40); a rung between the two solved what neither end did (XOR RNN T=40: 3 of 5 seeds at 0.003,
   2 of 5 at its own 0.01, 0 of 2 tuning seeds at lo's 0.0003); and the rung below both ends did
   too (XOR RNN T=80: 2 of 5 seeds at 0.003, both ends' lr, 9 of 10 at 0.001; copy LSTM T=28: 1 of
   5 at 0.01, 5 of 5 at 0.003). At hi's own lr the failed seeds train on to the ceiling and a seed
   counts solved under either budget; at another rung every seed trains afresh and only those runs
   count (no seed is read at the better of several lrs). Where the failure holds there, it must
   hold with the ceiling at the lr `lo` was solved at too (when that is another rung): two tuning
   seeds can rank the rungs wrong (XOR RNN T=80: 0.01 solved both and 0 of 8 other seeds; 0.001,
   lo's lr, neither of them and 11 of 13 others; docs/architecture.md, session 34), and lo's lr is
   the one the length before it was solved with. hi counts the better of the two sets of seeds,
   each whole. If `hi` turns out solved, the bracket moves and the search goes on; so no reading
   rests on a failure one lr or one budget decided.
   Where the ceiling is less than `budget_factor` times lo's slowest solve, the answer is
   `budget_bound`: the solved neighbour needed so much of the ceiling that hi's failure is not
   beyond doubt.
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
    budget_factor: int = 3       # the ceiling must be this many times lo's slowest solve, else budget_bound
    steps: int = 3000            # the base budget: every run's first
    budget_ceiling: int = 3      # the budget a failure at hi must survive, in base budgets

    @property
    def ceiling(self) -> int:
        return self.budget_ceiling * self.steps

    @property
    def need(self) -> int:
        """Solved seeds that make a length solved: at least half of them."""
        return math.ceil(len(self.seeds) / 2)


OWN, OTHER = "own", "other"  # the lr a confirmation runs at: hi's own, or another rung its sweep chose
SAME = "same"  # lo's lr is the confirmation's: no second confirmation


@dataclass
class LengthRuns:
    """The outcomes at one length: seed -> solved, under the base budget, the confirming one at the
    rung the tuning seeds chose (`extended`) and the confirming one at the lr lo was solved at
    (`at_lower`); for each solved seed the steps its solve took (its first evaluation that met the
    rule); and the lr each confirmation runs at (None: not chosen yet; OWN, OTHER, or for the second
    SAME: lo's lr is the first's)."""
    base: dict[int, bool] = field(default_factory=dict)
    extended: dict[int, bool] = field(default_factory=dict)
    solve_steps: dict[int, int] = field(default_factory=dict)
    confirm_at: str | None = None
    at_lower: dict[int, bool] = field(default_factory=dict)
    lower_at: str | None = None

    @property
    def solved_confirming(self) -> int:
        """Seeds solved at hi's own lr (either budget), or where the confirmation ran at another lr,
        there: every seed trained again at that lr and only those runs count."""
        return count_at(self.confirm_at, self.base, self.extended)

    @property
    def solved_at_lower(self) -> int:
        """Seeds solved at the lr lo was solved at, with the ceiling (0 where it is the first's)."""
        return count_at(self.lower_at, self.base, self.at_lower) if self.lower_at in (OWN, OTHER) else 0

    @property
    def by_lower(self) -> bool:
        """The length's count is its runs at lo's lr: they solved more seeds than the first set."""
        return self.solved_at_lower > self.solved_confirming

    @property
    def solved(self) -> int:
        """The better of the two confirming lrs (each a whole set of seeds; no seed is read at the
        better of two lrs): a failure stands only where it holds at both."""
        return max(self.solved_confirming, self.solved_at_lower)

    @property
    def seeds(self) -> int:
        return len(self.base)


SOLVED, FAILED = "solved", "failed"


def count_at(at: str | None, base: Mapping[int, bool], confirming: Mapping[int, bool]) -> int:
    """Seeds solved by a confirming set at `at`: at hi's own lr a seed counts solved under either
    budget (its failed runs trained on); at another lr only the set's own runs count."""
    if at == OTHER:
        return sum(confirming.values())
    return sum(ok or confirming.get(seed, False) for seed, ok in base.items())


def to_confirm(base: Mapping[int, bool], confirming: Mapping[int, bool], at: str | None) -> tuple[int, ...]:
    """The seeds a confirming set at `at` has still to train: at another lr every seed, at hi's own
    the seeds that failed it."""
    return tuple(seed for seed, ok in base.items() if (at == OTHER or not ok) and seed not in confirming)


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
    steps: int              # the budget: the base one, or the ceiling (a confirmation)
    extended: bool = False  # a confirmation: at hi's own lr its failed seeds' runs trained on, at another afresh
    at_lower: bool = False  # ... the second one, at the lr lo was solved at


@dataclass(frozen=True)
class Confirm:
    """Pick the lr that confirms hi's failure, the best of the rungs from hi's own lr to the one
    `lower` (lo; None when the search failed at its floor) was solved at and one past each, walked
    past a winning end, on the tuning seeds with `steps`, the ceiling; the runner sets hi's
    `confirm_at`."""
    length: int
    lower: int | None
    steps: int


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
    runs = outcomes[hi]
    if runs.confirm_at is None:
        return Confirm(hi, lo, search.ceiling)
    if unconfirmed := to_confirm(runs.base, runs.extended, runs.confirm_at):
        return Train(hi, unconfirmed, search.ceiling, extended=True)
    if runs.lower_at in (OWN, OTHER) and (unconfirmed := to_confirm(runs.base, runs.at_lower, runs.lower_at)):
        return Train(hi, unconfirmed, search.ceiling, extended=True, at_lower=True)  # the failure held: now lo's lr
    return Found(lo, hi, budget_bound(outcomes.get(lo) if lo is not None else None, search))


def budget_bound(lo: LengthRuns | None, search: SearchRange) -> bool:
    """Whether the ceiling is less than budget_factor x the slowest solve at lo: the solved
    neighbour needed so much of it that a failure at hi with the ceiling is not beyond doubt."""
    slowest = max(lo.solve_steps.values(), default=0) if lo is not None else 0
    return search.budget_factor * slowest > search.ceiling


def missing_seeds(runs: LengthRuns, search: SearchRange) -> tuple[int, ...]:
    return tuple(seed for seed in search.seeds if seed not in runs.base)


# --- the lr of a length ------------------------------------------------------------------------
def nearest_tuned(length: int, tuned: Mapping[int, float]) -> float | None:
    """The lr chosen at the tuned length nearest to `length` in log T (the shorter on a tie)."""
    if not tuned:
        return None
    return tuned[min(tuned, key=lambda t: (abs(math.log(t / length)), t))]
