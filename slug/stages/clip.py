"""CLIP's stages: SLUG's step search on the Pareto-front layers, and the before/after evaluation."""

from __future__ import annotations

import logging
import time

import pandas as pd
import torch

from slug.config import image_caps
from slug.data import load_pairs
from slug.clip.evaluation import (CachedEvaluator, bootstrap_change, cosine_matrix, eval_tasks, load_eval_set,
                                  matched_cosine, mia_score)
from slug.clip.evaluation.tasks import task
from slug.io import load_tensor_dict, sha256
from slug.clip.models import load_model
from slug.core.ranking import candidates
from slug.core.search import Criterion, run_search, selection_record, trials_table
from slug.workflow import versions

_log = logging.getLogger("slug")


def search_step(model: dict, device: torch.device, inputs: dict[str, str], concept: str, display_name: str, s: dict,
                dirs: dict, seed: int, log: logging.Logger = _log, kind: str = "person") -> tuple[pd.DataFrame, dict]:
    """The step search on the search split (rule ``search_step``): ``search.tsv``'s table and ``selection.json``.

    ``inputs``: ``forget`` (the forget gradient), ``layers`` (the ranking), ``checkpoint`` when the model is
    one the workflow trained (its sha256 is recorded); ``s`` is the config's ``search`` section.
    """
    bundle = load_model(model, device)
    bundle.model.eval()
    params = {k: v for k, v in bundle.model.named_parameters()}
    g_f = load_tensor_dict(inputs["forget"], check_finite=True)
    layers = candidates(pd.read_csv(inputs["layers"], sep="\t"), s["towers"], s["max_layers_per_tower"])
    log.info("searching %d front layers: %s", len(layers), layers)
    es = load_eval_set(dirs, "search", bundle.preprocess_val, **image_caps(s), keep=[display_name])
    target_task, target = es.target(display_name, kind)
    evaluator = CachedEvaluator(bundle.model, bundle.tokenizer, es, target, target_task=target_task)
    baseline = evaluator.baseline()
    log.info("original model (search split): %s", baseline)
    criterion = Criterion(s["criterion"]["metric"], s["criterion"]["max"])
    t0 = time.time()
    out = run_search(evaluator, params, g_f, layers, criterion, baseline, rho_start=s["rho_start"],
                     max_iter=s["max_iter"], rel_tol=s["rel_tol"], max_retain_drop=s["max_retain_drop"],
                     rho_margin=s["rho_margin"], retain_on_fail=s["retain_on_fail"], progress=log.info)
    log.info("chose %s rho=%.4g (threshold %.4g, %s) in %.1fs", out.best.layer, out.best.rho, out.rho_threshold,
             out.note, time.time() - t0)
    if not out.note["criterion_met"]:
        log.warning("NO trial met the forget criterion %s: the closest trial is recorded; raise search.max_iter "
                    "or allow more towers/layers", criterion.describe())
    record = selection_record(out, criterion, layers, max_retain_drop=s["max_retain_drop"], rho_margin=s["rho_margin"])
    return trials_table(out.trials), {
        "concept": concept, "display_name": display_name, "kind": kind, **record,
        "update": "theta[layer] <- theta[layer] - lambda * g_forget[layer]",
        "seed": seed,  # timings live in the benchmark files: this file is reproducible
        "model": model, "versions": versions(), "inputs_sha256": {k: sha256(v) for k, v in inputs.items()},
    }


def evaluate_concept(model: dict, device: torch.device, unlearned: str, forget_tar: str, nonmember: list[str],
                     concept: str, display_name: str, ev: dict, dirs: dict, seed: int,
                     log: logging.Logger = _log, kind: str = "person") -> tuple[dict, dict]:
    """Before/after metrics on the held-out test split (rule ``evaluate``): ``metrics.json`` and the two
    cosine matrices ``{"before": [N, N], "after": [N, N]}`` with their names (``metrics["cosine_names"]``).

    Every task's accuracies, MIA (forget pairs against ``nonmember`` shards), the cosine matrix of the
    concept and up to four look-alikes of its kind, and a paired bootstrap interval of each retain change.
    ``dirs``: the held-out sets' folders (:func:`~slug.clip.evaluation.load_eval_set`).
    """
    models = {"before": load_model(model, device), "after": load_model(model, device, pretrained=unlearned)}
    tf, tok = models["before"].preprocess_val, models["before"].tokenizer
    name = display_name
    es = load_eval_set(dirs, "test", tf, **image_caps(ev), keep=[name, *ev["cosine_names"]])
    target_task, target = es.target(name, kind)
    members = load_pairs([forget_tar], tf, tok)
    nonmembers = load_pairs(nonmember, tf, tok)
    tasks = eval_tasks(es)
    if kind == "person":
        names = [name] + [n for n in ev["cosine_names"] if n != name and es.has_images(n)][:4]
    else:  # the concept and the next four classes of its kind
        classes = es.classes(kind)
        names = [classes[target]] + [n for n in classes if n != classes[target]][:4]
    out = {"concept": concept, "display_name": name, "kind": kind, "target_task": target_task,
           "split": "test (held out from the search)",
           "n_target_images": int((task(tasks, target_task).labels == target).sum()), "n_identities": len(es.id_names),
           "n_identity_images": len(es.id_labels), "n_object_images": len(es.obj_labels),
           "n_images": {t.name: len(t.labels) for t in tasks},
           "n_forget_pairs": len(members[0]), "n_nonmember_pairs": len(nonmembers[0]), "cosine_names": names}
    mats, hits = {}, {}
    for when, b in models.items():
        b.model.eval()
        evaluator = CachedEvaluator(b.model, tok, es, target, target_task=target_task)
        m, hits[when] = evaluator.baseline(), evaluator.hits()
        m["mia_mean"], m["mia_std"] = mia_score(matched_cosine(b.model, *members[:2]),
                                                matched_cosine(b.model, *nonmembers[:2]),
                                                seeds=ev["mia_seeds"], splits=ev["mia_splits"])
        mats[when] = cosine_matrix(b.model, tok, es, names, kind)
        m["cosine_matrix"] = mats[when].round(5).tolist()
        out[when] = m
        log.info("%s: %s", when, {k: v for k, v in m.items() if k != "cosine_matrix"})
    out["change"] = {k: out["after"][k] - out["before"][k] for k in out["before"] if k != "cosine_matrix"}
    # how far each task's retain change could move on other held-out images of the same kind
    out["change_ci"] = {
        t.keys[0]: bootstrap_change(hits["before"][t.name], hits["after"][t.name], t.labels, macro=t.per_class,
                                    exclude=target if t.name == target_task else None, seed=seed)
        for t in tasks}
    log.info("95%% intervals of the changes: %s",
             {k: [round(100 * x, 2) for x in v["ci"]] for k, v in out["change_ci"].items()})
    return out, mats


def unlearn(model: dict, selection: dict, forget: str, outputs: dict[str, str], log: logging.Logger = _log) -> dict:
    """The unlearned model (rule ``unlearn``): the single-layer delta and the full model, each as ``.pt`` and
    as safetensors (the delta's header names the base, the layer, lambda, rho and the base's checksums), and
    ``manifest.json`` with the checksums and the Python that loads the model. Returns the manifest."""
    from slug.clip.models import load_weights, save_state_dict, source_preprocess
    from slug.config import bundled_arch_config
    from slug.core.unlearn import apply_deltas, single_layer_delta
    from slug.export.clip import write_clip_delta, write_clip_model
    from slug.export.formats import tensors_sha256
    from slug.io import atomic_torch_save, write_json

    state = load_weights(model["arch"], model["pretrained"])
    layer = selection["layer"]
    g = load_tensor_dict(forget, check_finite=True)[layer]
    delta = {layer: single_layer_delta(state[layer], g, selection["lambda"])}
    log.info("layer %s, lambda %.6g, rho %.4g, |delta|/|theta| = %.4g", layer, selection["lambda"], selection["rho"],
             float(delta[layer].norm() / state[layer].norm()))
    unlearned = apply_deltas(state, delta)
    base_model = {k: model[k] for k in ("arch", "pretrained") if k in model}
    meta = write_clip_delta(outputs["delta_safetensors"], delta, state, base_model, selection)
    atomic_torch_save(delta, outputs["delta"])
    save_state_dict(unlearned, outputs["checkpoint"])
    write_clip_model(outputs["model_safetensors"], unlearned, {
        "concept": selection.get("concept"), "display_name": selection.get("display_name"),
        "kind": selection.get("kind", "person"), "method": "SLUG", "layer": layer, "lambda": selection["lambda"],
        "rho": selection["rho"], "base_arch": model["arch"], "base_pretrained": str(model.get("pretrained")),
        "base_sha256": meta["base_sha256"], "base_layer_sha256": meta["base_edited_sha256"]})
    # Python that loads the unlearned model with open_clip, run from the workflow's directory
    load = "import open_clip; "
    if bundled_arch_config(model["arch"]) is not None:  # an architecture of slug/model_configs: register it first
        load += "from slug.clip.models import register_configs; register_configs(); "
    preprocess = source_preprocess(model.get("source")) or {}  # the tag's, as every job applies it
    kwargs = "".join(f", image_{k}={v!r}" for k, v in preprocess.items())
    load += (f"model, _, preprocess = open_clip.create_model_and_transforms({model['arch']!r}, "
             f"pretrained={str(outputs['checkpoint'])!r}{kwargs})")
    manifest = {
        "base_model": model, "layer": layer, "lambda": selection["lambda"], "rho": selection["rho"],
        "base_sha256": meta["base_sha256"], "base_layer_sha256": meta["base_edited_sha256"],
        "unlearned_sha256": tensors_sha256(unlearned),
        "delta_sha256": sha256(outputs["delta"]), "checkpoint_sha256": sha256(outputs["checkpoint"]),
        "delta_safetensors_sha256": sha256(outputs["delta_safetensors"]),
        "model_safetensors_sha256": sha256(outputs["model_safetensors"]),
        "load": load,
    }
    write_json(outputs["manifest"], manifest)
    return manifest
