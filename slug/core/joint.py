"""Joint unlearning of several concepts (the paper's appendix): each concept's single-layer update is
computed on the original model by its own search, and the updates are applied together
(``theta' = theta + sum_k delta_k``; deltas on the same layer add up).

``joint_metrics`` evaluates a model on every concept of the set at once: forget accuracy per concept,
and retain identity accuracy over the identities *outside* the set, so that no target counts as retain.
"""

from __future__ import annotations

import html
from typing import Callable, Sequence

import pandas as pd
import torch

from slug.concepts import RETAIN_TOP1
from slug.report.comparison import format_table, page
from slug.report import png_data_uri
from slug.core.search import TIE_TOL


def combine_deltas(deltas: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Sum of single-layer deltas, per layer (float32 accumulation, in the first delta's dtype)."""
    out: dict[str, torch.Tensor] = {}
    for d in deltas:
        for name, t in d.items():
            if name in out and out[name].shape != t.shape:
                raise ValueError(f"deltas for {name!r} disagree in shape: {tuple(out[name].shape)} vs {tuple(t.shape)}")
            out[name] = out[name] + t.float() if name in out else t.float().clone()
    return {n: t.to(deltas[0][n].dtype if n in deltas[0] else t.dtype) for n, t in out.items()}


def shared_layers(layers: dict[str, str]) -> dict[str, list[str]]:
    """{layer: [concepts]} for layers chosen by two or more concepts (where updates interfere directly)."""
    by_layer: dict[str, list[str]] = {}
    for concept, layer in layers.items():
        by_layer.setdefault(layer, []).append(concept)
    return {k: v for k, v in by_layer.items() if len(v) > 1}


def joint_metrics(model: torch.nn.Module, tokenizer: Callable, es, targets: dict[str, tuple[str, int]]) -> dict:
    """Forget @1/@5 per concept, every task's retain accuracy outside the set (fractions): the task metrics
    of :mod:`slug.clip.evaluation.tasks` with every concept of the set a target (``(task, class)`` each, so a
    set may mix kinds)."""
    from slug.clip.evaluation.tasks import eval_tasks, evaluate_model

    return evaluate_model(model, tokenizer, eval_tasks(es), targets)


#: How the joint page names each task's retain accuracy.
RETAIN_LABELS = {k: f"{v} @1" for k, v in RETAIN_TOP1.items()}


def retain_keys(metrics: dict) -> list[str]:
    """The retain top-1 keys of a metrics dict, in the tasks' order."""
    return [k for k in metrics if k.endswith("_top1") and not k.startswith("forget")]


def meets(metrics: dict, concept: str, metric: str, max_value: float) -> bool:
    key = "top5" if metric == "forget_top5" else "top1"
    return metrics["forget"][concept][key] <= max_value + TIE_TOL


def rescale_jointly(evaluate: Callable[[dict[str, float]], dict], concepts: Sequence[str], metric: str,
                    max_value: float, rounds: int = 3, max_doublings: int = 6, bisections: int = 4,
                    log: Callable[[str], None] | None = None) -> tuple[dict[str, float], list[dict]]:
    """Joint re-search: scale each concept's update (s >= 1) until every concept meets the criterion.

    ``evaluate(scales)`` returns ``joint_metrics`` of the model with ``theta + sum_k s_k * delta_k``.
    A concept that the other updates pulled back above the criterion gets its own scale doubled until
    it is met again, then bisected down (smallest scale that meets it), with the others fixed; up to
    ``rounds`` passes over the concepts. Returns the scales and every trial.
    """
    say = log or (lambda _m: None)
    scales = {c: 1.0 for c in concepts}
    trials: list[dict] = []

    def run(s: dict[str, float]) -> dict:
        m = evaluate(s)
        trials.append({"scales": dict(s), "metrics": m})
        return m

    m = run(scales)
    for _ in range(rounds):
        failing = [c for c in concepts if not meets(m, c, metric, max_value)]
        if not failing:
            break
        for c in failing:
            if c != failing[0] and meets(run(scales), c, metric, max_value):
                continue  # rescaling an earlier concept already brought this one back
            lo, hi = scales[c], None
            for _ in range(max_doublings):
                trial = {**scales, c: lo * 2}
                tm = run(trial)
                if meets(tm, c, metric, max_value):
                    hi = lo * 2
                    break
                lo *= 2
            if hi is None:
                say(f"{c}: still not forgotten at scale {lo:g}")
                scales[c] = lo
                continue
            for _ in range(bisections):
                mid = 0.5 * (lo + hi)
                if meets(run({**scales, c: mid}), c, metric, max_value):
                    hi = mid
                else:
                    lo = mid
            scales[c] = hi
            say(f"{c}: scale {hi:.4g} restores the criterion jointly")
        m = run(scales)
    return scales, trials


def accuracy_table(results: dict[str, dict], concepts: Sequence[str], metric: str) -> pd.DataFrame:
    """One row per evaluated model ('before', 'only <c>', 'sum of updates', ...): forget accuracy per
    concept (top-5 under a top-5 criterion, else top-1), every task's retain @1 (fractions)."""
    key = "top5" if metric == "forget_top5" else "top1"
    rows = []
    for when, m in results.items():
        row = {"model": when}
        for c in concepts:
            row[f"forget_{key} {c}"] = m["forget"][c][key]
        row.update({RETAIN_LABELS.get(k, k): m[k] for k in retain_keys(m)})
        rows.append(row)
    return pd.DataFrame(rows)


def interference_summary(concepts: Sequence[str], metric: str, max_value: float, overlap: dict[str, list[str]],
                         scales: dict[str, float], n_rescale: int, alone_search: dict[str, dict], search_sum: dict,
                         search_joint: dict, results: dict[str, dict]) -> dict:
    """How the concepts' updates interact.

    The criterion is judged on the search split (``alone_search``: each concept's own update alone;
    ``search_sum``: the plain sum; ``search_joint``: after the re-search), as SLUG's own selection;
    ``results`` are the test-split evaluations ('before', 'only <c>', 'joint (re-searched)'), from which
    the retain drops are computed: jointly, and summed over the single-concept updates.
    """
    met_alone = {c: meets(alone_search[c], c, metric, max_value) for c in concepts}
    met_sum = {c: meets(search_sum, c, metric, max_value) for c in concepts}
    joint, before = results["joint (re-searched)"], results["before"]
    retain = retain_keys(before)
    return {
        "shared_layers": overlap, "scales": scales, "rescale_evaluations": n_rescale,
        "criterion_met_alone": met_alone, "criterion_met_by_sum": met_sum,
        "criterion_met_jointly": {c: meets(search_joint, c, metric, max_value) for c in concepts},
        "criterion_met_jointly_test_split": {c: meets(joint, c, metric, max_value) for c in concepts},
        "lost_by_summing": [c for c in concepts if met_alone[c] and not met_sum[c]],
        "retain_drop_joint": {k: before[k] - joint[k] for k in retain},
        "retain_drop_sum_of_single": {k: sum(before[k] - results[f"only {c}"][k] for c in concepts) for k in retain},
    }


def joint_page(set_name: str, concepts: Sequence[str], names: dict[str, str], layers: dict[str, str],
               criterion: str, inter: dict, table: pd.DataFrame, cosine_png: str) -> str:
    """The set's self-contained HTML page: layers and criterion per concept, the accuracy table (in %),
    what the interference did, and the cosine matrices (``cosine_png``: a path to the PNG)."""
    def pct(v: float) -> str:
        return f"{100 * v:.1f} pt"

    scales, drop, drop_alone = inter["scales"], inter["retain_drop_joint"], inter["retain_drop_sum_of_single"]
    met = inter["criterion_met_jointly"]
    notes = []
    if inter["shared_layers"]:
        notes.append("Concepts that chose the same layer (their updates add): "
                     + "; ".join(f"<code>{html.escape(layer)}</code>: {html.escape(', '.join(cs))}"
                                 for layer, cs in inter["shared_layers"].items()))
    else:
        notes.append("Every concept chose a different layer, so the updates touch disjoint tensors; they still "
                     "interact through the forward pass.")
    if inter["lost_by_summing"]:
        notes.append("<span class='bad'>Met the criterion alone but not with the plain sum of the updates: "
                     + html.escape(", ".join(inter["lost_by_summing"])) + "</span>: the other updates undo part of "
                     "their forgetting. The joint re-search scaled their update up: "
                     + html.escape(", ".join(f"{c} x{scales[c]:.3g}" for c in concepts if scales[c] != 1.0)) + ".")
    if not all(met.values()):
        notes.append("<span class='bad'>Not met jointly even after the re-search: "
                     + html.escape(", ".join(c for c in concepts if not met[c])) + "</span>")
    notes.append("Retain accuracy (outside the set) fell, jointly against summed over the single-concept updates: "
                 + "; ".join(f"{RETAIN_LABELS.get(k, k)} by {pct(drop[k])} against {pct(drop_alone[k])}" for k in drop)
                 + ".")
    shown = table.set_index("model").mul(100).round(1).reset_index()
    per_concept = pd.DataFrame([{"concept": c, "layer": layers[c], "met alone": inter["criterion_met_alone"][c],
                                 "met by the sum": inter["criterion_met_by_sum"][c], "scale": scales[c],
                                 "met jointly": met[c],
                                 "met jointly (test split)": inter["criterion_met_jointly_test_split"][c]}
                                for c in concepts])
    body = [f"<p>Concepts: {html.escape(', '.join(names[c] for c in concepts))}. Each update was found by its own "
            "SLUG search on the original model; the joint model adds them, "
            "θ' = θ + Σ<sub>k</sub> s<sub>k</sub>·Δ<sub>k</sub>, "
            "with every s<sub>k</sub> = 1 unless the other updates pulled concept k back above the criterion (then "
            "s<sub>k</sub> is re-searched, doubling then bisecting, on the search split). "
            f"Criterion <code>{html.escape(criterion)}</code> (judged on the search split). "
            "Held-out test split; every retain accuracy excludes the concepts of the set.</p>",
            format_table(per_concept),
            "<h2>Accuracy (%)</h2>", format_table(shown),
            "<h2>Interference</h2>", "".join(f"<p>{n}</p>" for n in notes),
            "<h2>Image × name cosine similarity (original | joint)</h2>",
            f'<img src="{png_data_uri(cosine_png)}" alt="cosine matrices">']
    return page(f"Joint unlearning: {set_name}", "\n".join(body))
