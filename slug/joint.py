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
