"""Stable Diffusion's stages: the demo UNet's training, the text-encoder edit's search, and the
before/after generations with their recognition."""

from __future__ import annotations

import json
from collections import Counter
import logging
import time
from pathlib import Path

import pandas as pd
import torch

from slug import diffusion as D
from slug.budget import TimeBudget
from slug.clip.hf import (apply_text_edit, check_edit, check_same_text_tower, clip_tokenizer, convert_text_tower,
                          layers_run)
from slug.io import atomic_dir, load_tensor_dict, sha256
from slug.clip.models import load_model
from slug.core.search import Criterion, choose, given_edit_trial, make_delta, run_search, selection_record, trials_table
from slug.concepts import RETAIN_TASK
from slug.workflow import versions
from slug.world import Character, Identity

_log = logging.getLogger("slug")


def save_unet(unet: torch.nn.Module, path: str | Path) -> None:
    """``unet.save_pretrained`` into a folder that appears complete or not at all."""
    with atomic_dir(path) as tmp:
        unet.save_pretrained(tmp)


def train_unet(model: dict, device: torch.device, world_files: dict[str, str], cfg: dict, concepts: D.Concepts,
               seed: int, threads: int, log: logging.Logger = _log) -> tuple[torch.nn.Module, pd.DataFrame, dict]:
    """Train the demo's pixel-space text-to-image UNet on the demo world (rule ``sd_train``): the UNet, its
    loss table and ``info.json``. ``cfg`` is the config's ``diffusion`` section; ``world_files`` the world's
    ``identities`` and ``characters`` tables; ``concepts`` ``{kind: [names]}``, first among their kind's subjects."""
    from slug.world import STYLES

    bundle = load_model(model, device)
    world = [Identity(**d) for d in json.loads(Path(world_files["identities"]).read_text())]
    chars = ([Character(**d) for d in json.loads(Path(world_files["characters"]).read_text())]
             if world_files.get("characters") else [])
    subjects = D.resolve_subjects(cfg, concepts, {"person": [i.name for i in world],
                                                  "character": [c.name for c in chars], "style": list(STYLES)})
    log.info("generator subjects: %s", {k: v for k, v in subjects.record().items() if v})
    tr = cfg["train"]
    t0 = time.time()
    images, captions, labels = D.render_training_set(
        world, subjects, tr["images"], cfg["resolution"], seed, tr["person_fraction"], chars,
        tr["character_fraction"], tr["style_fraction"])
    log.info("rendered %d training images in %.1fs", len(images), time.time() - t0)
    ctx = int(bundle.model.positional_embedding.shape[0])
    encoder, tokenizer = convert_text_tower(bundle.model).to(device), clip_tokenizer(ctx)
    torch.manual_seed(seed)
    unet = D.demo_unet(encoder.config.hidden_size, cfg["resolution"], tr["channels"]).to(device)
    n_params = sum(q.numel() for q in unet.parameters())
    log.info("UNet2DConditionModel: %d parameters", n_params)
    budget = TimeBudget(tr["max_minutes"], "diffusion.train.max_minutes", "diffusion.train.steps", tr["steps"],
                        stop=tr["time_limited"], stop_setting="diffusion.train.time_limited")
    t0 = time.time()
    logs = D.train_demo_unet(unet, encoder, tokenizer, images, captions, steps=tr["steps"],
                             batch_size=tr["batch_size"], lr=tr["lr"], cond_dropout=tr["cond_dropout"], seed=seed,
                             budget=budget)
    seconds = time.time() - t0
    log.info("trained %d steps in %.1fs, final loss (EMA) %.4f", logs[-1]["step"] + 1, seconds, logs[-1]["loss_ema"])
    return unet, pd.DataFrame(logs), {
        **subjects.record(), "resolution": cfg["resolution"], "train": tr,
        "training_images": dict(Counter(labels)),
        "steps_done": logs[-1]["step"] + 1, **budget.record(),
        "final_loss_ema": logs[-1]["loss_ema"], "train_seconds": round(seconds, 1), "threads": threads,
        "parameters": n_params, "text_encoder": model, "context_length": ctx, "seed": seed, "versions": versions(),
    }


def search_edit(model: dict, device: torch.device, inputs: dict[str, str], concept: str, display_name: str, cfg: dict,
                seed: int, log: logging.Logger = _log, kind: str = "person"
                ) -> tuple[dict[str, torch.Tensor], pd.DataFrame, dict]:
    """The concept's text-encoder edit for Stable Diffusion (rule ``sd_search``): the delta, ``search.tsv``'s
    table and ``selection.json``.

    ``diffusion.edit: search`` runs the shared step search (:func:`slug.core.search.run_search`) on the text
    layers the pipeline runs (the concept's forget gradient, the CLIP ranking's text front) with a generation
    evaluator: "forgotten" = the target's recognition rate in generated images <= chance + forget_margin
    (chance within the task of the concept's ``kind``); among those the retain recognition (every task) is
    maximised. ``edit: clip`` evaluates the CLIP pipeline's own
    ``unlearned/delta.pt`` once. ``inputs``: ``forget``, ``layers``, ``clip_delta`` (edit: clip), and the
    demo's ``info``, ``unet`` and ``checkpoint`` where the workflow trained them.
    """
    s, target = cfg["search"], display_name
    bundle, info, subjects, pipe = D.open_sd(model, cfg, target, inputs.get("info"), inputs.get("unet"), device, kind)
    chance = subjects.chance(kind)
    n_run = min(cfg["max_text_layer"] or 10**9, layers_run(pipe.text_encoder, cfg["clip_skip"]))
    params = dict(bundle.model.named_parameters())
    g_f = load_tensor_dict(inputs["forget"], check_finite=True)
    given = load_tensor_dict(inputs["clip_delta"]) if cfg["edit"] == "clip" else None
    layers = list(given) if given else D.sd_candidates(pd.read_csv(inputs["layers"], sep="\t"), s["max_layers"], n_run)
    log.info("text layers the pipeline runs: 0..%d; candidate layers: %s", n_run - 1, layers)
    check_same_text_tower(bundle.model, pipe.text_encoder, layers, cfg["dtype"], model)
    for name in layers:
        check_edit({name: g_f[name]}, pipe.text_encoder, cfg["clip_skip"])
    ps = D.evaluation_prompts(subjects, target, s["target_images"], s["retain_images"], s["retain_images"], kind)
    ev = D.GenerationEvaluator(pipe, D.Recogniser(bundle, subjects), ps, seed, s["steps"], cfg["guidance"],
                               cfg["clip_skip"])
    t0 = time.time()
    baseline = ev.baseline()
    log.info("%d images per trial, %.1fs; original: %s (chance %.3f)", len(ps), time.time() - t0,
             {k: round(v, 3) for k, v in baseline.items() if k in ("forget_top1", *ev.spec.retain)}, chance)
    criterion = Criterion("forget_top1", chance + s["forget_margin"])
    t0 = time.time()
    if given:
        check_edit(given, pipe.text_encoder, cfg["clip_skip"])
        out = choose(ev, params, g_f, [given_edit_trial(ev, params, g_f, given, criterion)], criterion, baseline,
                     s["max_retain_drop"])
    else:
        out = run_search(ev, params, g_f, layers, criterion, baseline, rho_start=s["rho_start"], max_iter=s["max_iter"],
                         rel_tol=s["rel_tol"], max_retain_drop=s["max_retain_drop"], rho_margin=s["rho_margin"],
                         progress=log.info)
    log.info("chose %s rho=%.4g (%s) in %.1fs", out.best.layer, out.best.rho, out.note, time.time() - t0)
    if not out.note["criterion_met"]:
        log.warning("NO trial brought the target's recognition to <= %s: the closest trial is recorded",
                    criterion.describe())
    best = out.best
    delta = given or {best.layer: make_delta(params[best.layer].detach().cpu(), g_f[best.layer], best.rho)[0]}
    hashed = {k: inputs[k] for k in ("forget", "checkpoint") if inputs.get(k)}
    record = selection_record(out, criterion, layers, max_retain_drop=s["max_retain_drop"], rho_margin=s["rho_margin"])
    return {k: v.detach().cpu().contiguous() for k, v in delta.items()}, trials_table(out.trials), {
        "concept": concept, "display_name": target, "kind": kind, "edit": cfg["edit"], **record,
        "criterion_meaning": f"target recognition in generated images <= chance {chance:.3f} + "
                             f"diffusion.search.forget_margin {s['forget_margin']:g}",
        "update": "theta[layer] <- theta[layer] - lambda * g_forget[layer], carried into the pipeline's text encoder",
        "text_layers_run": n_run, "images_per_trial": len(ps), "sampling_steps": s["steps"],
        "seed": seed, "model": model, "diffusion_model": cfg["model"], "versions": versions(),
        "inputs_sha256": {k: sha256(v) for k, v in hashed.items()},
    }


def evaluate_generation(model: dict, device: torch.device, inputs: dict[str, str], concept: str, display_name: str,
                        cfg: dict, log: logging.Logger = _log, kind: str = "person"
                        ) -> tuple[dict, dict[str, torch.Tensor]]:
    """Before/after generations of the target and retain prompts with the same noise, and their recognition
    (rule ``sd_evaluate``): ``metrics.json`` and the grids' images, ``{"{key}_{before|after}": images}``.
    ``inputs``: ``selection``, ``delta``, and the demo's ``info`` and ``unet``."""
    e, target = cfg["eval"], display_name
    bundle, info, subjects, pipe = D.open_sd(model, cfg, target, inputs.get("info"), inputs.get("unet"), device, kind)
    sel = json.loads(Path(inputs["selection"]).read_text())
    delta = load_tensor_dict(inputs["delta"], check_finite=True)
    rec = D.Recogniser(bundle, subjects)
    ps = D.evaluation_prompts(subjects, target, e["target_images"], e["retain_images"], e["retain_images"], kind)
    noise = D.fixed_noise(pipe, len(ps), e["seed"])
    imgs, seconds, out = {}, {}, {}
    for tag in ("before", "after"):
        if tag == "after":
            apply_text_edit(pipe, delta, cfg["clip_skip"])
        t0 = time.time()
        imgs[tag] = D.generate(pipe, ps.prompts, noise, cfg["steps"], cfg["guidance"], clip_skip=cfg["clip_skip"])
        seconds[tag] = round(time.time() - t0, 1)
    for tag in ("before", "after"):
        out[tag] = m = D.recognition_metrics(ps, rec.predict(imgs[tag], ps.tasks), subjects)
        log.info("%s: target %.3f, %s", tag, m["forget_top1"], {k: round(m[k], 3) for k in D.retain_keys(m)})
    # grids: the first target images; one image per retain subject (its first), before and after
    grids = {f"{key}_{tag}": imgs[tag][idx] for key, idx in D.grid_indices(ps).items() for tag in ("before", "after")}
    chance = subjects.chance(kind)
    b, a = out["before"], out["after"]
    retain_tasks = [(k, RETAIN_TASK[k]) for k in D.retain_keys(b)]
    per_retain = {s_: {"before": b["per_subject"][s_], "after": a["per_subject"][s_]} for s_ in ps.subjects
                  if s_ != target}
    return {
        "concept": concept, "display_name": target, "kind": kind, "layer": sel["layer"], "rho": sel["rho"],
        "edit": sel["edit"], "criterion_met_in_search": sel["criterion_met"],
        "chance": chance, "chance_identity": subjects.chance_identity, "chance_object": subjects.chance_object,
        "chance_per_task": b["chance"],
        "target_before": b["forget_top1"], "target_after": a["forget_top1"],
        **{f"{task}_{tag}": out[tag][k] for k, task in retain_tasks for tag in ("before", "after")},
        "retain_tasks": [task for _, task in retain_tasks],
        "checks": D.recognition_checks(b, a, chance),
        "per_subject": per_retain,
        "n_images": {"target": e["target_images"], "per_identity": e["retain_images"],
                     "per_object": e["retain_images"], "per_character": e["retain_images"],
                     "per_style": e["retain_images"], "total_per_pass": len(ps)},
        "prompt_templates": {k: list(D.prompt_templates(k, subjects.objects)) for k in D.KINDS if subjects.of(k)},
        "generation_seconds": seconds,
        "sampler": {"scheduler": type(pipe.scheduler).__name__, "steps": cfg["steps"], "guidance": cfg["guidance"],
                    "noise_seed": e["seed"], "dtype": cfg["dtype"], "resolution": D.sd_size(pipe)},
        **subjects.record(), "diffusion_model": cfg["model"],
        "train": ({k: info.get(k) for k in ("train_seconds", "steps_done", "final_loss_ema", "parameters",
                                             "time_limited", "stopped_by_time_budget", "max_minutes")}
                  | {"steps": info["train"]["steps"]} if info else None),
        "versions": versions(),
    }, grids


def export_base_pipeline(model: dict, device: torch.device, inputs: dict[str, str], cfg: dict, out_dir: str | Path,
                         log: logging.Logger = _log) -> None:
    """The demo's original pipeline (its UNet, the demo CLIP's text tower, tokenizer, DDIM scheduler) as a
    diffusers folder (rule ``sd_base_pipeline``): the base ``StableDiffusionPipeline.from_pretrained`` loads,
    as a user loads a real pipeline."""
    from slug.export.diffusion import export_pipeline

    bundle = load_model(model, device)
    pipe = D.load_pipeline(cfg, bundle, inputs["unet"], "cpu")
    export_pipeline(pipe, out_dir)
    log.info("wrote the demo's base pipeline to %s", out_dir)


def base_text_encoder(model: dict, cfg: dict, unet_dir: str | None):
    """The text encoder of the pipeline the SD rules edit, on the CPU: the demo CLIP's converted text tower,
    or a real pipeline's ``text_encoder/`` folder."""
    dtype = torch.float16 if cfg["dtype"] == "float16" else torch.float32  # as load_pipeline: the evaluated weights
    if cfg["model"] == "train":
        return convert_text_tower(load_model(model, "cpu").model).to(dtype)
    from transformers import CLIPTextModel

    D.check_pipeline_dir(cfg["pipeline_dir"], cfg["model"])
    return CLIPTextModel.from_pretrained(Path(cfg["pipeline_dir"]) / "text_encoder", local_files_only=True,
                                         torch_dtype=dtype).eval()


def export_unlearned(model: dict, inputs: dict[str, str], cfg: dict, concept: str, base_pipeline: str,
                     outputs: dict[str, str], report: str, demo: bool, log: logging.Logger = _log) -> dict:
    """The SD result people load (rule ``sd_export``): the unlearned text encoder as a Hugging Face folder,
    the edit as a delta file in the encoder's names (with the base's checksum) and the model card.
    ``inputs``: ``selection``, ``delta``, ``metrics``, ``forget_stats`` and the demo's ``unet``. The encoder is
    edited in the pipeline's dtype (``diffusion.dtype``), as the evaluation edits it. Returns the delta's metadata."""
    from slug.export.card import sd_card, write_card
    from slug.export.diffusion import PROVENANCE_KEYS, export_text_encoder, text_encoder_delta

    sel = json.loads(Path(inputs["selection"]).read_text())
    metrics = json.loads(Path(inputs["metrics"]).read_text())
    forget_stats = json.loads(Path(inputs["forget_stats"]).read_text()) if inputs.get("forget_stats") else {}
    edit = load_tensor_dict(inputs["delta"], check_finite=True)
    enc = base_text_encoder(model, cfg, inputs.get("unet"))
    base_model = {"pipeline": base_pipeline, "diffusion_model": cfg["model"], "clip": model["arch"]}
    meta = text_encoder_delta(enc, edit, outputs["delta"], sel, base_model, cfg["clip_skip"])
    provenance = {k: meta[k] for k in PROVENANCE_KEYS}
    sums = export_text_encoder(enc, edit, outputs["text_encoder"], cfg["clip_skip"], provenance)
    log.info("text encoder with %s edited (%s): %s", sel["layer"], meta["base_edited_tensors"], outputs["text_encoder"])
    files = {"delta.safetensors": sha256(outputs["delta"]),
             "text_encoder/model.safetensors": sha256(Path(outputs["text_encoder"]) / "model.safetensors"),
             "text_encoder/config.json": sha256(Path(outputs["text_encoder"]) / "config.json")}
    write_card(outputs["card"], sd_card(concept, metrics, sel, base_pipeline, meta | {"edited_sha256": sums["edited"]},
                                        files, report, demo, forget_stats, cfg))
    return meta
