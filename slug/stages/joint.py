"""Joint unlearning of a set of concepts (rule ``joint_unlearn_and_evaluate``): sum their single-layer
deltas, re-scale them until every concept meets the criterion again, and evaluate every concept, each
concept's own delta alone too, to show interference."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from slug.clip.evaluation import cosine_matrix, load_eval_set
from slug.io import load_tensor_dict, read_json
from slug.core.joint import (accuracy_table, combine_deltas, interference_summary, joint_metrics, rescale_jointly,
                             shared_layers)
from slug.clip.models import load_model
from slug.core.search import Criterion
from slug.core.unlearn import apply_deltas

_log = logging.getLogger("slug")


@dataclass
class JointResult:
    model: torch.nn.Module  # the original model with the joint delta applied
    delta: dict[str, torch.Tensor]  # the joint delta
    layers: dict[str, str]  # each concept's layer
    cosine: dict[str, np.ndarray]  # "before", "joint": [concept x concept name] cosine matrices
    table: pd.DataFrame  # the accuracy table of every variant
    interference: dict
    metrics: dict  # joint_metrics.json


def unlearn_jointly(model: dict, device: torch.device, set_name: str, concepts: Sequence[str], names: dict[str, str],
                    delta_paths: Sequence[str], selection_paths: Sequence[str], criterion: dict, search_caps: dict,
                    eval_caps: dict, dirs: dict, log: logging.Logger = _log,
                    kinds: dict[str, str] | None = None) -> JointResult:
    """The joint update of ``concepts`` from their single-concept ``delta.pt`` and ``selection.json``;
    ``kinds``: each concept's kind (default person), so one set may mix kinds."""
    kinds = {c: (kinds or {}).get(c, "person") for c in concepts}
    bundle = load_model(model, device)
    net, tok = bundle.model.eval(), bundle.tokenizer
    original = {k: v.detach().clone() for k, v in net.state_dict().items()}
    deltas = {c: load_tensor_dict(d, check_finite=True) for c, d in zip(concepts, delta_paths)}
    layers = {c: read_json(s)["layer"] for c, s in zip(concepts, selection_paths)}
    overlap = shared_layers(layers)
    log.info("layers: %s; shared: %s", layers, overlap or "none")
    crit = Criterion(criterion["metric"], criterion["max"])

    def scaled(scales):
        return combine_deltas([{n: scales[c] * t for n, t in deltas[c].items()} for c in concepts])

    def evaluate(es, targets, deltas_to_apply):
        net.load_state_dict(apply_deltas(original, deltas_to_apply))
        return joint_metrics(net, tok, es, targets)

    # The sum of the single-concept updates, then a joint re-search on the search split: a concept that the
    # other updates pulled back above the criterion gets its own update scaled up until it is met again.
    concept_names = list(names.values())  # their images are never capped
    es_search = load_eval_set(dirs, "search", bundle.preprocess_val, **search_caps,
                              keep=concept_names)
    t_search = {c: es_search.target(names[c], kinds[c]) for c in concepts}
    scales, rescale_trials = rescale_jointly(lambda sc: evaluate(es_search, t_search, scaled(sc)), concepts,
                                             crit.metric, crit.max_value, log=log.info)
    search_sum, search_joint = rescale_trials[0]["metrics"], rescale_trials[-1]["metrics"]
    joint = scaled(scales)
    alone_search = {c: evaluate(es_search, t_search, deltas[c]) for c in concepts}
    es_search = None  # one split in memory at a time

    es = load_eval_set(dirs, "test", bundle.preprocess_val, **eval_caps, keep=concept_names)
    targets = {c: es.target(names[c], kinds[c]) for c in concepts}
    results = {"before": evaluate(es, targets, {})}
    for c in concepts:
        results[f"only {c}"] = evaluate(es, targets, deltas[c])
    results["sum of updates"] = evaluate(es, targets, scaled({c: 1.0 for c in concepts}))
    results["joint (re-searched)"] = evaluate(es, targets, joint)
    shown = [names[c] for c in concepts]
    net.load_state_dict(original)
    shown_kinds = [kinds[c] for c in concepts]
    mats = {"before": cosine_matrix(net, tok, es, shown, shown_kinds)}
    net.load_state_dict(apply_deltas(original, joint))
    mats["joint"] = cosine_matrix(net, tok, es, shown, shown_kinds)

    table = accuracy_table(results, concepts, crit.metric)
    interference = interference_summary(concepts, crit.metric, crit.max_value, overlap, scales, len(rescale_trials),
                                        alone_search, search_sum, search_joint, results)
    log.info("\n%s\n%s", table.to_string(), interference)
    metrics = {
        "set": set_name, "concepts": list(concepts), "names": names, "kinds": kinds, "layers": layers,
        "criterion": crit.describe(), "criterion_split": "search", "split": "test (held out)", "results": results,
        "search_split": {"sum of updates": search_sum, "joint (re-searched)": search_joint},
        "interference": interference, "cosine_names": shown, "cosine_before": mats["before"].round(5).tolist(),
        "cosine_joint": mats["joint"].round(5).tolist(),
    }
    return JointResult(net, joint, layers, mats, table, interference, metrics)


def export_joint(res: JointResult, model: dict, set_name: str, concepts: list[str], kinds: dict[str, str],
                 outputs: dict[str, str]) -> dict:
    """The joint result as safetensors: the joint delta (its header names the base, the concepts and each one's
    layer, with the base's checksums) and the full model. Returns the delta's metadata."""
    from slug.clip.models import load_weights
    from slug.export.clip import write_clip_delta, write_clip_model

    about = {"concept": set_name, "kind": ",".join(sorted(set(kinds.values()))),
             "layer": ",".join(sorted(set(res.layers.values())))}
    base_model = {k: model[k] for k in ("arch", "pretrained")}
    meta = write_clip_delta(outputs["delta_safetensors"], res.delta, load_weights(model["arch"], model["pretrained"]),
                            base_model, about, concepts=list(concepts), layers=res.layers)
    write_clip_model(outputs["model_safetensors"], res.model.state_dict(),
                     {**about, "method": "SLUG (joint)", "base_arch": model["arch"],
                      "base_pretrained": str(model["pretrained"]), "base_sha256": meta["base_sha256"]})
    return meta
