"""Joint unlearning of several concepts (the paper's appendix): each concept's single-layer update is
computed on the original model by its own search, and the updates are applied together
(``theta' = theta + sum_k delta_k``; deltas on the same layer add up).

``joint_metrics`` evaluates a model on every concept of the set at once: forget accuracy per concept,
and retain identity accuracy over the identities *outside* the set, so that no target counts as retain.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from slug.zeroshot import (IDENTITY_TEMPLATES, OBJECT_TEMPLATES, build_classifier, classifier_tokens, encode_images,
                           per_class_accuracy, topk_correct)


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


@torch.no_grad()
def joint_metrics(model: torch.nn.Module, tokenizer: Callable, es, targets: dict[str, int]) -> dict:
    """Forget @1/@5 per concept, retain identities outside the set, objects (fractions)."""
    id_clf = build_classifier(model, classifier_tokens(tokenizer, es.id_names, IDENTITY_TEMPLATES), len(IDENTITY_TEMPLATES))
    obj_clf = build_classifier(model, classifier_tokens(tokenizer, es.obj_names, OBJECT_TEMPLATES), len(OBJECT_TEMPLATES))
    idf, objf = encode_images(model, es.id_images), encode_images(model, es.obj_images)
    out: dict = {"forget": {}}
    for concept, t in targets.items():
        mask = es.id_labels == t
        out["forget"][concept] = {f"top{k}": float(topk_correct(idf[mask] @ id_clf.T, es.id_labels[mask], k).float().mean())
                                  for k in (1, 5)}
    keep = torch.ones(len(es.id_names), dtype=torch.bool)
    keep[list(targets.values())] = False
    for k in (1, 5):
        pc = per_class_accuracy(idf, id_clf, es.id_labels, k)
        out[f"retain_id_top{k}"] = float(np.nanmean(pc[keep].numpy()))
        out[f"objects_top{k}"] = float(topk_correct(objf @ obj_clf.T, es.obj_labels, k).float().mean())
    return out


def meets(metrics: dict, concept: str, metric: str, max_value: float) -> bool:
    key = "top5" if metric == "forget_top5" else "top1"
    return metrics["forget"][concept][key] <= max_value + 1e-12


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
