"""The concept's text-encoder edit for Stable Diffusion (rule `sd_search`).

edit=search: the shared step search (slug.search.run_search) on the text layers the pipeline runs (the
concept's forget gradient, the CLIP ranking's text front), with a generation evaluator: "forgotten" = the
target's recognition rate in generated images <= chance + forget_margin; among those the retain
recognition is maximised. edit=clip: the CLIP pipeline's own unlearned/delta.pt, evaluated once.
"""
import time

import pandas as pd

from slug import diffusion as D
from slug.hf_clip import check_edit, check_same_text_tower, layers_run
from slug.io import atomic_path, atomic_torch_save, load_tensor_dict, sha256, write_json
from slug.models import pick_device
from slug.search import Criterion, choose, given_edit_trial, make_delta, run_search, selection_record, trials_table
from slug.workflow import as_list, setup, versions

p = snakemake.params
cfg, s = p.diffusion, p.diffusion["search"]
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
target = p.concept["name"]
bundle, info, subjects, pipe = D.open_sd(p.model, cfg, target, snakemake.input.get("info"), snakemake.input.get("unet"),
                                         device)
n_run = min(cfg["max_text_layer"] or 10**9, layers_run(pipe.text_encoder, cfg["clip_skip"]))
params = dict(bundle.model.named_parameters())
g_f = load_tensor_dict(snakemake.input.forget, check_finite=True)
given = load_tensor_dict(snakemake.input.clip_delta) if cfg["edit"] == "clip" else None
layers = list(given) if given else D.sd_candidates(pd.read_csv(snakemake.input.layers, sep="\t"), s["max_layers"], n_run)
log.info("text layers the pipeline runs: 0..%d; candidate layers: %s", n_run - 1, layers)
check_same_text_tower(bundle.model, pipe.text_encoder, layers, cfg["dtype"], p.model)
for name in layers:
    check_edit({name: g_f[name]}, pipe.text_encoder, cfg["clip_skip"])

ps = D.evaluation_prompts(subjects, target, s["target_images"], s["retain_images"], s["retain_images"])
ev = D.GenerationEvaluator(pipe, D.Recogniser(bundle, subjects), ps, p.seed, s["steps"], cfg["guidance"], cfg["clip_skip"])
t0 = time.time()
baseline = ev.baseline()
log.info("%d images per trial, %.1fs; original: %s (chance %.3f)", len(ps), time.time() - t0,
         {k: round(v, 3) for k, v in baseline.items() if k in ("forget_top1", "retain_id_top1", "objects_top1")},
         subjects.chance_identity)
criterion = Criterion("forget_top1", subjects.chance_identity + s["forget_margin"])
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
    log.warning("NO trial brought the target's recognition to <= %s: the closest trial is recorded", criterion.describe())
delta = given or {out.best.layer: make_delta(params[out.best.layer].detach().cpu(), g_f[out.best.layer], out.best.rho)[0]}
atomic_torch_save({k: v.detach().cpu().contiguous() for k, v in delta.items()}, snakemake.output.delta)
with atomic_path(snakemake.output.trials) as tmp:
    trials_table(out.trials).to_csv(tmp, sep="\t", index=False, float_format="%.6g")
inputs = {"forget": snakemake.input.forget, **({"checkpoint": as_list(snakemake.input.checkpoint)[0]}
                                               if snakemake.input.get("checkpoint") else {})}
record = selection_record(out, criterion, layers, max_retain_drop=s["max_retain_drop"], rho_margin=s["rho_margin"])
write_json(snakemake.output.selection, {
    "concept": snakemake.wildcards.concept, "display_name": target, "edit": cfg["edit"], **record,
    "criterion_meaning": f"target recognition in generated images <= chance {subjects.chance_identity:.3f} + "
                         f"diffusion.search.forget_margin {s['forget_margin']:g}",
    "update": "theta[layer] <- theta[layer] - lambda * g_forget[layer], carried into the pipeline's text encoder",
    "text_layers_run": n_run, "images_per_trial": len(ps), "sampling_steps": s["steps"],
    "seed": p.seed, "model": p.model, "diffusion_model": cfg["model"], "versions": versions(),
    "inputs_sha256": {k: sha256(v) for k, v in inputs.items()},
})
