"""Step-size search and the choice of the unlearning step.

The update of layer l is ``theta_l <- theta_l - lambda * g_f,l`` with lambda > 0, parameterised by
its relative size ``rho = lambda * ||g_f,l|| / ||theta_l||``. Per layer the search starts at
``rho_start`` (0.1, as the reference), doubles rho until the forget criterion holds, then bisects
between the largest failing and the smallest passing rho, for at most ``max_iter`` evaluations or
until the bracket is narrower than ``rel_tol`` of its upper end.

The choice among all trials of all searched layers:

1. *eligible* trials meet the forget criterion (default ``forget_top5 <= 0``, the paper's);
2. if ``max_retain_drop`` is set, eligible trials where retain identity top-1 *or* object top-1
   fell by more than it are set aside, unless none is left;
3. the chosen trial maximises the retain score
   ``retain = (retain_id_top1 + objects_top1) / 2`` (search split), ties going to the smaller rho;
4. with ``rho_margin`` > 0 the step taken is the chosen one enlarged to ``rho * (1 + rho_margin)``
   (``with_margin``), recorded as an extra trial of kind "margin".

Every decision compares metrics that are shares of images (counts over counts, computed in float64).
Two values closer than ``TIE_TOL`` are the same value reached along different floating-point paths
(another thread count, another summation order), so each comparison is made with that tolerance:
the criterion and the retain bound hold at equality, and equal retain scores are a tie that goes to the
smaller rho. The decisions then depend on the counts alone, not on last-bit differences.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol

import torch

#: Metrics closer than this are equal. Shares of images differ by at least 1 / (images x classes),
#: far above it at any real size; float64 rounding of such shares is about 1e-16.
TIE_TOL = 1e-9


@dataclass(frozen=True)
class Criterion:
    """A trial "forgets" when ``metrics[metric] <= max_value``."""

    metric: str = "forget_top5"
    max_value: float = 0.0

    def __call__(self, metrics: dict) -> bool:
        return metrics[self.metric] <= self.max_value + TIE_TOL

    def describe(self) -> str:
        return f"{self.metric} <= {self.max_value:g}"


@dataclass(frozen=True)
class MetricSpec:
    """What the driver reads of a family's metrics: the forget keys (the criterion's and the fallback's
    order), the retain keys (averaged into the retain score, each bounded by ``max_retain_drop``) and every
    retain column (recorded as NaN when a trial's retain sets were skipped)."""

    forget: tuple[str, ...] = ("forget_top5", "forget_top1")
    retain: tuple[str, ...] = ("retain_id_top1", "objects_top1")
    columns: tuple[str, ...] = ("retain_id_top1", "retain_id_top5", "objects_top1", "objects_top5")
    retain_label: str = "retain identity and object top-1"  # the retain keys, in the selection rule's words

    @classmethod
    def for_tasks(cls, tasks) -> "MetricSpec":
        """The spec of an evaluation over :class:`slug.clip.evaluation.tasks.Task`s: every task's top-1 is a retain key."""
        retain = tuple(t.keys[0] for t in tasks)
        columns = tuple(k for t in tasks for k in t.keys)
        if (retain, columns) == (cls.retain, cls.columns):
            return cls()  # the identities and objects of CLIP and Stable Diffusion, in the default's words
        return cls(retain=retain, columns=columns, retain_label=" and ".join(retain))

    def score(self, metrics: dict) -> float:
        """The retain score: the mean of the retain keys."""
        return sum(metrics[k] for k in self.retain) / len(self.retain)

    def drop(self, baseline: dict, metrics: dict) -> float:
        """The largest retain drop against the original."""
        return max(baseline[k] - metrics[k] for k in self.retain)

    def rule(self) -> str:
        return ("among trials meeting the forget criterion (and, if any, those whose "
                f"{self.retain_label} each fell by at most max_retain_drop), maximise retain = "
                f"({' + '.join(self.retain)}) / {len(self.retain)} on the search split; ties go to the smaller rho; "
                "then, if search.rho_margin > 0, enlarge that step to rho * (1 + rho_margin)")


#: CLIP's and Stable Diffusion's metrics (identities and objects).
METRICS = MetricSpec()
SELECTION_RULE = METRICS.rule()
RETAIN_KEYS = METRICS.retain  # the retain score and the retain bound
RETAIN_METRICS = METRICS.columns  # all retain columns


def spec_of(evaluator) -> MetricSpec:
    """The evaluator's metric spec (CLIP's and Stable Diffusion's when it names none)."""
    return getattr(evaluator, "spec", METRICS)


def retain_score(metrics: dict, spec: MetricSpec = METRICS) -> float:
    return spec.score(metrics)


def _nan_last(x: float) -> float:
    """A sort key that puts NaN (a trial whose retain sets were not evaluated) after every number."""
    return math.inf if math.isnan(x) else x


def best_with_ties(items: list, keys: list[Callable]) -> object:
    """The item minimising ``keys`` in order, where values within ``TIE_TOL`` of the best are a tie
    decided by the next key (a lexicographic minimum with a tolerance). NaN counts as the worst value."""
    pool = list(items)
    for key in keys:
        values = [_nan_last(float(key(t))) for t in pool]
        lowest = min(values)
        pool = [t for t, v in zip(pool, values) if v <= lowest + TIE_TOL]
    return pool[0]


def retain_drops(baseline: dict, metrics: dict, spec: MetricSpec = METRICS) -> float:
    """The larger of the retain drops (identities top-1, objects top-1) against the original."""
    return spec.drop(baseline, metrics)


def bisect_rho(evaluate: Callable[[float], dict], meets: Callable[[dict], bool], rho_start: float = 0.1,
               max_iter: int = 10, rel_tol: float = 0.02, rho_max: float = 64.0) -> list[tuple[float, dict, bool]]:
    """Double-then-bisect search for the smallest rho meeting ``meets``; returns every trial in order."""
    if rho_start <= 0 or max_iter < 1:
        raise ValueError("search.rho_start must be > 0 and search.max_iter >= 1")
    lo, hi, rho = 0.0, math.inf, rho_start
    trials = []
    for _ in range(max_iter):
        m = evaluate(rho)
        ok = bool(meets(m))
        trials.append((rho, m, ok))
        if ok:
            hi = rho
        else:
            lo = rho
        if math.isinf(hi):
            if rho >= rho_max:
                break
            rho = min(2 * rho, rho_max)
        else:
            if hi - lo <= rel_tol * hi:
                break
            rho = 0.5 * (lo + hi)
    return trials


def step_scale(theta: torch.Tensor, grad: torch.Tensor) -> float:
    """lambda per unit rho: ||theta|| / ||g||."""
    gn = float(grad.float().norm())
    if gn == 0.0 or not math.isfinite(gn):
        raise ValueError("the forget gradient of this layer is zero or not finite")
    return float(theta.float().norm()) / gn


def make_delta(theta: torch.Tensor, grad: torch.Tensor, rho: float) -> tuple[torch.Tensor, float]:
    """The single-layer update ``-lambda * g`` of relative size rho, and lambda."""
    lam = rho * step_scale(theta, grad)
    return (-lam * grad.float()).to(theta.dtype), lam


@dataclass
class SearchTrial:
    layer: str
    tower: str
    iteration: int
    rho: float
    lam: float
    meets_criterion: bool
    metrics: dict = field(default_factory=dict)
    kind: str = "search"  # "search": a bisection trial; "margin": the chosen step enlarged by search.rho_margin

    def row(self, spec: MetricSpec = METRICS) -> dict:
        d = asdict(self)
        d.update(d.pop("metrics"))
        d["retain_score"] = spec.score(self.metrics)
        return d


def search_layers(evaluator, params: dict[str, torch.Tensor], g_f: dict[str, torch.Tensor], layers: list[str],
                  criterion: Criterion, rho_start: float = 0.1, max_iter: int = 10, rel_tol: float = 0.02,
                  progress: Callable[[str], None] | None = None, retain_on_fail: bool = True,
                  spec: MetricSpec = METRICS) -> list[SearchTrial]:
    """Run the per-layer search for every layer with ``evaluator.evaluate({layer: delta})``.

    ``retain_on_fail=False`` (config ``search.retain_on_fail``) evaluates each trial on the forget images
    first (``evaluator.evaluate(edits, forget_only=True)``) and the retain sets only when the forget
    criterion holds: a failing trial can never be chosen (see ``select_trial``), so the choice is the
    same, and its retain metrics are recorded as NaN. Needs a ``forget_*`` criterion metric.
    """
    from slug.core.gradients import tower_of

    lazy = not retain_on_fail and criterion.metric.startswith("forget_")
    trials: list[SearchTrial] = []
    for layer in layers:
        theta, grad = params[layer].detach(), g_f[layer]
        scale = step_scale(theta, grad)

        def evaluate(rho: float) -> dict:
            delta, _ = make_delta(theta, grad, rho)
            if lazy:
                m = evaluator.evaluate({layer: delta}, forget_only=True)
                if not criterion(m):
                    return {**m, **{k: math.nan for k in spec.columns}}
            return evaluator.evaluate({layer: delta})

        for i, (rho, m, ok) in enumerate(bisect_rho(evaluate, criterion, rho_start, max_iter, rel_tol)):
            trials.append(SearchTrial(layer, tower_of(layer), i, rho, rho * scale, ok, m))
            if progress:
                progress(f"{layer} iter {i}: rho={rho:.4g} {criterion.metric}={m[criterion.metric]:.3f} "
                         f"retain={spec.score(m):.3f} {'PASS' if ok else 'fail'}")
    return trials


def with_margin(evaluator, params: dict[str, torch.Tensor], g_f: dict[str, torch.Tensor], chosen: SearchTrial,
                criterion: Criterion, margin: float) -> SearchTrial:
    """The chosen step enlarged to ``rho * (1 + margin)`` and evaluated (config ``search.rho_margin``).

    The bisection stops where the last *search* image of the concept leaves the criterion; unseen
    images of the concept lie around that threshold, so a margin makes the forgetting hold on them.
    """
    if margin < 0:
        raise ValueError("search.rho_margin must be >= 0")
    rho = chosen.rho * (1.0 + margin)
    delta, lam = make_delta(params[chosen.layer].detach(), g_f[chosen.layer], rho)
    m = evaluator.evaluate({chosen.layer: delta})
    return SearchTrial(chosen.layer, chosen.tower, chosen.iteration + 1, rho, lam, bool(criterion(m)), m, kind="margin")


def select_trial(trials: list[SearchTrial], baseline: dict, max_retain_drop: float | None = None,
                 metric: str = "forget_top5", spec: MetricSpec = METRICS) -> tuple[SearchTrial, dict]:
    """Apply the selection rule of the module docstring; returns the trial and a note of how.

    ``metric`` is the criterion's: when no trial meets it, the trial with its lowest value is kept.
    """
    if not trials:
        raise ValueError("no search trials: the Pareto front of the allowed towers is empty")
    passing = [t for t in trials if t.meets_criterion]
    note = {"n_trials": len(trials), "n_meeting_criterion": len(passing), "criterion_met": bool(passing)}
    pool = passing
    if passing and max_retain_drop is not None:
        within = [t for t in passing if spec.drop(baseline, t.metrics) <= max_retain_drop + TIE_TOL]
        note["n_within_retain_bound"] = len(within)
        note["retain_bound_met"] = bool(within)
        pool = within or passing
    if not pool:  # nothing forgets: keep the trial that forgets most, flagged as not meeting the criterion
        forget = [lambda t, k=k: t.metrics.get(k, 1.0) for k in (metric, *spec.forget)]
        best = best_with_ties(trials, [*forget, lambda t: -spec.score(t.metrics), lambda t: t.rho])
        return best, note
    best = best_with_ties(pool, [lambda t: -spec.score(t.metrics), lambda t: t.rho])
    return best, note


# --------------------------------------------------------------------------------------------
# The one driver every model family runs (CLIP, Stable Diffusion): search, choose, enlarge, record
# --------------------------------------------------------------------------------------------


class Evaluator(Protocol):
    """What the driver needs of a model family: the metrics of the model with ``theta[name] += delta``
    for each edit (restored afterwards), keyed as the criterion and its ``spec`` (a :class:`MetricSpec`);
    ``forget_only`` may return only the ``forget_*`` metrics (a cheap first look at a trial)."""

    spec: MetricSpec

    def evaluate(self, edits: dict[str, torch.Tensor], forget_only: bool = False) -> dict: ...

    def baseline(self) -> dict: ...


@dataclass
class SearchOutcome:
    """Every trial in order, the step taken, how it was chosen and the original model's metrics."""

    trials: list[SearchTrial]
    best: SearchTrial
    note: dict
    rho_threshold: float
    baseline: dict
    spec: MetricSpec = METRICS


def run_search(evaluator: Evaluator, params: dict[str, torch.Tensor], g_f: dict[str, torch.Tensor], layers: list[str],
               criterion: Criterion, baseline: dict, *, rho_start: float = 0.1, max_iter: int = 10,
               rel_tol: float = 0.02, max_retain_drop: float | None = None, rho_margin: float = 0.0,
               retain_on_fail: bool = True, progress: Callable[[str], None] | None = None) -> SearchOutcome:
    """The per-layer search, the selection rule and the margin, for any evaluator.

    An evaluator has ``evaluate(edits: {name: delta}, forget_only=False) -> metrics``; ``forget_only``
    is only asked for when ``retain_on_fail`` is False. When nothing meets the criterion, the closest
    trial is kept (flagged in the note) and, if its retain sets were skipped, evaluated fully.
    """
    trials = search_layers(evaluator, params, g_f, layers, criterion, rho_start, max_iter, rel_tol,
                           progress=progress, retain_on_fail=retain_on_fail, spec=spec_of(evaluator))
    return choose(evaluator, params, g_f, trials, criterion, baseline, max_retain_drop, rho_margin)


def choose(evaluator: Evaluator, params: dict[str, torch.Tensor], g_f: dict[str, torch.Tensor], trials: list[SearchTrial],
           criterion: Criterion, baseline: dict, max_retain_drop: float | None = None,
           rho_margin: float = 0.0) -> SearchOutcome:
    """The selection rule over ``trials``, then the margin (module docstring)."""
    spec = spec_of(evaluator)
    best, note = select_trial(trials, baseline, max_retain_drop, criterion.metric, spec)
    if any(math.isnan(best.metrics.get(k, 0.0)) for k in spec.columns):  # nothing forgot: evaluate the closest fully
        delta, _ = make_delta(params[best.layer].detach(), g_f[best.layer], best.rho)
        best.metrics = evaluator.evaluate({best.layer: delta})
    threshold = best.rho
    if rho_margin > 0 and note["criterion_met"]:
        best = with_margin(evaluator, params, g_f, best, criterion, rho_margin)
        trials.append(best)
    return SearchOutcome(trials, best, note, threshold, baseline, spec)


def given_edit_trial(evaluator, params: dict[str, torch.Tensor], g_f: dict[str, torch.Tensor],
                     delta: dict[str, torch.Tensor], criterion: Criterion) -> SearchTrial:
    """A single-layer edit computed elsewhere (e.g. the CLIP pipeline's own step), evaluated as a trial."""
    from slug.core.gradients import tower_of

    (name, d), = delta.items()
    m = evaluator.evaluate(delta)
    theta = params[name].detach().float()
    rho = float(d.float().norm() / theta.norm())
    return SearchTrial(name, tower_of(name), 0, rho, rho * float(theta.norm() / g_f[name].float().norm()),
                       criterion(m), m)


def _public(metrics: dict) -> dict:
    """The scalar metrics (a family may keep per-subject details beside them)."""
    return {k: v for k, v in metrics.items() if not isinstance(v, dict)}


def selection_record(outcome: SearchOutcome, criterion: Criterion, layers: list[str], *,
                     max_retain_drop: float | None, rho_margin: float) -> dict:
    """The keys every family's ``selection.json`` shares (the scripts add provenance and their own)."""
    best, spec = outcome.best, outcome.spec
    return {
        "layer": best.layer, "tower": best.tower, "rho": best.rho, "lambda": best.lam,
        "rho_threshold": outcome.rho_threshold, "rho_margin": rho_margin,
        "criterion": criterion.describe(), **outcome.note,
        "selection_rule": spec.rule(), "max_retain_drop": max_retain_drop,
        "metrics_search_split": _public(best.metrics), "baseline_search_split": _public(outcome.baseline),
        "retain_score": spec.score(best.metrics), "baseline_retain_score": spec.score(outcome.baseline),
        "retain_drop": spec.drop(outcome.baseline, best.metrics),
        "layers_searched": layers,
    }


def trials_table(trials: list[SearchTrial], spec: MetricSpec = METRICS):
    """``search.tsv``'s rows: one per trial, scalar metrics only."""
    import pandas as pd

    return pd.DataFrame([_public(t.row(spec)) for t in trials])
