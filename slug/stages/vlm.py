"""The vision-language model's stages: the demo VLM's training (rule ``vlm_train``), the vision-tower edit's
search with a VLM criterion (``vlm_search``) and the before/after evaluation under several phrasings
(``vlm_evaluate``)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pandas as pd
import torch

from slug.budget import TimeBudget
from slug.clip.models import load_model
from slug.core.search import Criterion, make_delta, run_search, selection_record, trials_table
from slug.io import load_tensor_dict, sha256
from slug.vlm import data as VD
from slug.vlm.evaluation import NamingTask, VLMEvaluator, naming_tasks
from slug.vlm.hf import check_same_vision_tower, check_vision_edit, convert_vision_tower, layers_read, vlm_candidates
from slug.vlm.model import build_tokenizer, demo_llava, load_vlm, tower, tower_features
from slug.vlm.train import train_demo_vlm
from slug.workflow import versions
from slug.world import OBJECT_CLASSES, Character, Identity

_log = logging.getLogger("slug")
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def train_vlm(model: dict, device: torch.device, world_files: dict[str, str], cfg: dict, image_size: int, seed: int,
              threads: int = 1, log: logging.Logger = _log):
    """Build the demo VLM (the demo CLIP's vision tower converted, a projector, a small Llama, a word-level
    tokenizer) and train it on freshly drawn images of every identity, character and object, the tower frozen.
    Returns the model, its tokenizer, the loss table and ``train.json``'s record. ``cfg``: the config's ``vlm``."""
    from tqdm import tqdm

    tr = cfg["train"]
    bundle = load_model(model, "cpu")
    people = [Identity(**d) for d in json.loads(Path(world_files["identities"]).read_text())]
    chars = ([Character(**d) for d in json.loads(Path(world_files["characters"]).read_text())]
             if world_files.get("characters") else [])
    objects = [name for name, _ in OBJECT_CLASSES.values()]
    t0 = time.time()
    iset = VD.render_instruction_set(people, chars, tr["per_class"], image_size, seed)
    pixels = torch.stack([bundle.preprocess_val(im) for im in iset.images])
    log.info("rendered %d instruction images %s in %.1fs", len(pixels), iset.counts(), time.time() - t0)
    tok = build_tokenizer(VD.all_texts({"person": [p.name for p in people], "character": [c.name for c in chars],
                                        "object": objects}))
    vlm = demo_llava(convert_vision_tower(bundle.model), tok, tr["hidden_size"], tr["layers"], tr["heads"],
                     tr["intermediate_size"], seed).to(device)
    t0 = time.time()
    feats = tower_features(vlm, pixels)
    feature_seconds = time.time() - t0
    log.info("tower features %s (vision_feature_layer %d) computed once in %.1fs", tuple(feats.shape),
             vlm.config.vision_feature_layer, feature_seconds)
    n_params = sum(p.numel() for n, p in vlm.named_parameters() if "vision_tower" not in n)
    log.info("LlavaForConditionalGeneration: %d trained parameters (projector + language model), vocabulary %d",
             n_params, len(tok))
    budget = TimeBudget(tr["max_minutes"], "vlm.train.max_minutes", "vlm.train.steps", tr["steps"],
                        stop=tr["time_limited"], stop_setting="vlm.train.time_limited")
    bar = tqdm(total=tr["steps"], desc="vlm_train", mininterval=5, file=None)
    t0 = time.time()
    logs = train_demo_vlm(vlm, tok, feats.to(device), iset.kinds, iset.labels, steps=tr["steps"],
                          batch_size=tr["batch_size"], lr=tr["lr"], seed=seed, budget=budget,
                          progress=lambda done, total: bar.update(1), log=log)
    bar.close()
    seconds = time.time() - t0
    log.info("trained %d steps in %.1fs, final loss (EMA) %.4f", logs[-1]["step"] + 1, seconds, logs[-1]["loss_ema"])
    return vlm.cpu(), tok, pd.DataFrame(logs), {
        "training_images": iset.counts(), "per_class": tr["per_class"], "image_size": image_size,
        "train": tr, "steps_done": logs[-1]["step"] + 1, **budget.record(), "final_loss_ema": logs[-1]["loss_ema"],
        "feature_seconds": round(feature_seconds, 1), "train_seconds": round(seconds, 1), "threads": threads,
        "trained_parameters": n_params, "vocabulary": len(tok), "vision_feature_layer": vlm.config.vision_feature_layer,
        "image_tokens": int(feats.shape[1]), "clip": model, "seed": seed, "versions": versions(),
        "questions": {k: list(v) for k, v in VD.TRAIN_QUESTIONS.items()},
    }


def _open(model: dict, cfg: dict, vlm_dir: str, device: torch.device):
    bundle = load_model(model, device)
    vlm, tok = load_vlm(vlm_dir, device, _DTYPES[cfg["dtype"]])
    return bundle, vlm, tok


def _target(es, display_name: str, kind: str) -> tuple[str, int]:
    if kind not in VD.KIND_TASK:
        raise ValueError(f"the VLM names people, objects and characters; concept {display_name!r} is a {kind} "
                         "(leave vlm.enabled off for it, or set vlm.concepts)")
    return es.target(display_name, kind)


def search_edit(model: dict, device: torch.device, inputs: dict[str, str], concept: str, display_name: str, kind: str,
                cfg: dict, eval_dirs: dict, seed: int, log: logging.Logger = _log
                ) -> tuple[dict[str, torch.Tensor], pd.DataFrame, dict]:
    """The concept's vision-tower edit for the VLM (rule ``vlm_search``): the delta, ``search.tsv``'s table and
    ``selection.json``. The shared step search (:func:`slug.core.search.run_search`) runs on the vision layers the
    VLM reads (the concept's forget gradient, the CLIP ranking's vision front among them) with a VLM evaluator:
    "forgotten" = the concept named in at most ``vlm.search.max_forget`` of its search-split images; among those
    the other classes' naming accuracy (every task) is maximised. ``inputs``: ``vlm``, ``forget``, ``layers``."""
    from slug.clip.evaluation import load_eval_set

    s = cfg["search"]
    bundle, vlm, tok = _open(model, cfg, inputs["vlm"], device)
    n_layers = vlm.config.vision_config.num_hidden_layers
    n_read = layers_read(n_layers, vlm.config.vision_feature_layer)
    n_search = n_read if cfg["max_vision_layer"] is None else min(n_read, cfg["max_vision_layer"])
    params = dict(bundle.model.named_parameters())
    g_f = load_tensor_dict(inputs["forget"], check_finite=True)
    layers = vlm_candidates(pd.read_csv(inputs["layers"], sep="\t"), s["max_layers"], n_search)
    log.info("vision layers the VLM reads: 0..%d of %d (vision_feature_layer %d); candidate layers: %s", n_read - 1,
             n_layers, vlm.config.vision_feature_layer, layers)
    check_same_vision_tower(bundle.model, tower(vlm), layers, cfg["dtype"], model["arch"])
    for name in layers:
        check_vision_edit({name: g_f[name]}, n_layers, vlm.config.vision_feature_layer)
    es = load_eval_set(eval_dirs, "search", bundle.preprocess_val, max_per_identity=s["retain_images"],
                       max_per_class=s["retain_images"], keep=[display_name])
    tasks = naming_tasks(es, VD.SEARCH_QUESTION, identities=cfg["identities"], keep=(display_name,))
    ev = VLMEvaluator(vlm, tok, tasks, _target(es, display_name, kind), vlm.config.vision_feature_layer,
                      cfg["max_new_tokens"], cfg["batch_size"])
    t0 = time.time()
    baseline = ev.baseline()
    log.info("%d images per trial, %.1fs; original: %s", sum(len(t.labels) for t in tasks), time.time() - t0,
             {k: round(v, 3) for k, v in baseline.items()})
    criterion = Criterion("forget_named", s["max_forget"])
    t0 = time.time()
    out = run_search(ev, params, g_f, layers, criterion, baseline, rho_start=s["rho_start"], max_iter=s["max_iter"],
                     rel_tol=s["rel_tol"], max_retain_drop=s["max_retain_drop"], rho_margin=s["rho_margin"],
                     retain_on_fail=s["retain_on_fail"], progress=log.info)
    seconds = time.time() - t0
    log.info("chose %s rho=%.4g (%s) in %.1fs", out.best.layer, out.best.rho, out.note, seconds)
    if not out.note["criterion_met"]:
        log.warning("NO trial brought the concept's naming to <= %s: the closest trial is recorded", criterion.describe())
    best = out.best
    delta = {best.layer: make_delta(params[best.layer].detach().cpu(), g_f[best.layer], best.rho)[0]}
    record = selection_record(out, criterion, layers, max_retain_drop=s["max_retain_drop"], rho_margin=s["rho_margin"])
    return {k: v.detach().cpu().contiguous() for k, v in delta.items()}, trials_table(out.trials, ev.spec), {
        "concept": concept, "display_name": display_name, "kind": kind, **record,
        "criterion_meaning": f"the concept named (substring of the greedy answer, {cfg['max_new_tokens']} new tokens) "
                             f"in at most {s['max_forget']:g} of its search-split images, asked "
                             f"{VD.SEARCH_QUESTION[kind]!r}",
        "update": "theta[layer] <- theta[layer] - lambda * g_forget[layer], carried into the VLM's vision tower",
        "vision_layers_read": n_read, "vision_layers_searched": n_search,
        "vision_feature_layer": vlm.config.vision_feature_layer,
        "questions": {t.name: t.question for t in tasks}, "images_per_trial": sum(len(t.labels) for t in tasks),
        "search_seconds": round(seconds, 1), "evaluations": ev.calls, "identities": cfg["identities"],
        "seed": seed, "model": model,
        "vlm_model": cfg["model"], "versions": versions(),
        "inputs_sha256": {k: sha256(inputs[k]) for k in ("forget", "layers")},
    }


#: The evaluation's phrasings: the search's, another trained one, and one no training or search used.
PHRASINGS = {
    "search": VD.SEARCH_QUESTION,
    "trained": {k: v[1] for k, v in VD.TRAIN_QUESTIONS.items()},
    "unseen": VD.UNSEEN_QUESTIONS,
}


def evaluate_edit(model: dict, device: torch.device, inputs: dict[str, str], concept: str, display_name: str, kind: str,
                  cfg: dict, eval_dirs: dict, log: logging.Logger = _log) -> tuple[dict, pd.DataFrame, list]:
    """Before/after naming accuracy on the report split under every phrasing of :data:`PHRASINGS`, the answers'
    ROUGE-L against the world's answers, and example answers (rule ``vlm_evaluate``): ``vlm_metrics.json``'s
    record, the examples' table and their images (uint8 HxWx3). ``inputs``: ``vlm``, ``selection``, ``delta``, and
    on the demo world ``identities``, ``characters``, ``image_size``, ``seed`` (images drawn now:
    :func:`fresh_tasks`)."""
    from slug.clip.evaluation import load_eval_set

    e = cfg["eval"]
    bundle, vlm, tok = _open(model, cfg, inputs["vlm"], device)
    sel = json.loads(Path(inputs["selection"]).read_text())
    delta = load_tensor_dict(inputs["delta"], check_finite=True)
    es = load_eval_set(eval_dirs, "test", bundle.preprocess_val, max_per_identity=e["retain_images"],
                       max_per_class=e["retain_images"], keep=[display_name])
    target = _target(es, display_name, kind)
    tasks = {p: naming_tasks(es, qs, identities=cfg["identities"], keep=(display_name,)) for p, qs in PHRASINGS.items()}
    results, seconds, examples, evs = {}, {}, [], {}
    for phrasing in PHRASINGS:
        ev = evs[phrasing] = VLMEvaluator(vlm, tok, tasks[phrasing], target, vlm.config.vision_feature_layer,
                                          cfg["max_new_tokens"], cfg["batch_size"])
        answers = {}
        for tag, edit in (("before", {}), ("after", delta)):
            t0 = time.time()
            answers[tag] = ev.answers(edit)
            seconds[f"{phrasing}_{tag}"] = round(time.time() - t0, 1)
            results[f"{phrasing}_{tag}"] = ev.score(answers[tag])
        log.info("%s phrasing: before %s; after %s", phrasing,
                 {k: round(v, 3) for k, v in results[f"{phrasing}_before"].items() if k.endswith("_named")},
                 {k: round(v, 3) for k, v in results[f"{phrasing}_after"].items() if k.endswith("_named")})
        if phrasing == "search":
            examples = _examples(ev, answers, target, e["examples"])
    fresh = None
    if inputs.get("identities"):  # the demo world: images drawn now, with a stream of their own
        ft = fresh_tasks(bundle, inputs, es, e["fresh_per_class"], inputs["image_size"], inputs["seed"],
                         VD.SEARCH_QUESTION, cfg["identities"], (display_name,))
        ev = VLMEvaluator(vlm, tok, ft, target, vlm.config.vision_feature_layer, cfg["max_new_tokens"], cfg["batch_size"])
        fresh = {"before": ev.score(ev.answers({})), "after": ev.score(ev.answers(delta)),
                 "per_class": e["fresh_per_class"], "stream": FRESH_STREAM, "questions": VD.SEARCH_QUESTION,
                 "n_images": {t.name: int(len(t.labels)) for t in ft}}
        log.info("fresh images: before %s; after %s", {k: round(v, 3) for k, v in fresh["before"].items()},
                 {k: round(v, 3) for k, v in fresh["after"].items()})
    b, a = results["search_before"], results["search_after"]
    spec = evs["search"].spec
    return {
        "concept": concept, "display_name": display_name, "kind": kind, "layer": sel["layer"], "rho": sel["rho"],
        "criterion_met_in_search": sel["criterion_met"],
        "forget_before": b["forget_named"], "forget_after": a["forget_named"],
        **{f"{k}_{tag}": r[k] for k in spec.retain for tag, r in (("before", b), ("after", a))},
        "retain_keys": list(spec.retain),
        "phrasings": {p: {t: {"questions": PHRASINGS[p], **results[f"{p}_{t}"]} for t in ("before", "after")}
                      for p in PHRASINGS},
        "fresh_images": fresh,
        "chance": {t.name: 1.0 / len(t.classnames) for t in tasks["search"]},
        "n_images": {t.name: int(len(t.labels)) for t in tasks["search"]},
        "max_new_tokens": cfg["max_new_tokens"], "answer_seconds": seconds, "vlm_model": cfg["model"],
        "versions": versions(),
    }, pd.DataFrame(examples), [_pixels(bundle, tasks["search"], r) for r in examples]


#: The random stream of the evaluation's freshly drawn images (the training set's is 20).
FRESH_STREAM = 21


def fresh_tasks(bundle, world_files: dict[str, str], es, per_class: int, image_size: int, seed: int,
                questions: dict[str, str], identities: list[str] | None = None, keep: tuple[str, ...] = ()):
    """Naming tasks on images drawn now with a stream of their own (:data:`FRESH_STREAM`), never seen by the
    training, the search or the report split: ``per_class`` of every identity, character and object class, labelled
    within the held-out set's classes."""
    people = [Identity(**d) for d in json.loads(Path(world_files["identities"]).read_text())]
    chars = ([Character(**d) for d in json.loads(Path(world_files["characters"]).read_text())]
             if world_files.get("characters") and es.char_names else [])
    iset = VD.render_instruction_set(people, chars, per_class, image_size, seed, stream=FRESH_STREAM)
    tasks = []
    for kind, names in (("person", es.id_names), ("object", es.obj_names), ("character", es.char_names)):
        idx = [i for i, k in enumerate(iset.kinds) if k == kind and names and iset.labels[i] in names]
        if not idx:
            continue
        if kind == "person" and identities:
            idx = [i for i in idx if iset.labels[i] in {*identities, *keep}]
        pixels = torch.stack([bundle.preprocess_val(iset.images[i]) for i in idx])
        labels = torch.tensor([names.index(iset.labels[i]) for i in idx])
        task, metric = VD.KIND_TASK[kind]
        tasks.append(NamingTask(task, metric, kind, list(names), pixels, labels, questions[kind], kind != "object"))
    return tasks


def _pixels(bundle, tasks, row: dict):
    """An example's preprocessed image back in uint8 pixels (the preprocessing's Normalize undone)."""
    import numpy as np
    from torchvision.transforms import Normalize

    norm = next(t for t in bundle.preprocess_val.transforms if isinstance(t, Normalize))
    px = next(t for t in tasks if t.name == row["task"]).pixels
    x = (px[row["index"]] if isinstance(px, torch.Tensor) else px[row["index"]:row["index"] + 1].to("cpu")[0]).float()
    x = x * torch.tensor(norm.std).view(-1, 1, 1) + torch.tensor(norm.mean).view(-1, 1, 1)
    return (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _examples(ev: VLMEvaluator, answers: dict, target: tuple[str, int], n: int) -> list[dict]:
    """The first ``n`` images of the concept and the first image of a few other classes of every task, with the
    question and the answers before and after."""
    rows = []
    for t in ev.tasks:
        labels = t.labels.tolist()
        if t.name == target[0]:
            picks = [i for i, y in enumerate(labels) if y == target[1]][:n]
        else:
            picks = []
        seen = set()
        for i, y in enumerate(labels):
            if (t.name, y) != target and y not in seen and len(seen) < max(2, n // 2):
                seen.add(y)
                picks.append(i)
        for i in picks:
            rows.append({"task": t.name, "index": i, "class": t.classnames[labels[i]],
                         "is_target": t.name == target[0] and labels[i] == target[1], "question": t.question,
                         "before": answers["before"][t.name][i], "after": answers["after"][t.name][i]})
    return rows


def export_edit(model: dict, inputs: dict[str, str], cfg: dict, out: str, log: logging.Logger = _log) -> dict:
    """The VLM result people load (rule ``vlm_export``): the edit as a ``transformers-llava-vision`` delta file in
    the LLaVA's own names, with the base's checksum; ``slug apply`` adds it to the base LLaVA folder.
    ``inputs``: ``vlm`` (the base folder), ``selection``, ``delta``. Returns the delta's metadata."""
    from slug.export.vlm import vision_delta

    sel = json.loads(Path(inputs["selection"]).read_text())
    vlm, _ = load_vlm(inputs["vlm"], "cpu", _DTYPES[cfg["dtype"]])
    edit = load_tensor_dict(inputs["delta"], check_finite=True)
    meta = vision_delta(vlm, edit, out, sel, {"vlm": inputs["vlm"], "vlm_model": cfg["model"], "clip": model["arch"]})
    log.info("VLM delta on %s (%s): %s", sel["layer"], meta["base_edited_tensors"], out)
    return meta
