"""The concept's text-encoder edit for Stable Diffusion (rule `sd_search`).

edit=search: a generation-aware step search on the text layers the pipeline runs (the concept's
forget gradient, the CLIP ranking's text front); "forgotten" = the target's recognition rate in
generated images <= chance + forget_margin; among those the retain recognition is maximised.
edit=clip: the CLIP pipeline's own unlearned/delta.pt, evaluated once (refused if the pipeline cannot run it).
"""
import time

import pandas as pd

from slug import diffusion as D
from slug.hf_clip import check_edit, layers_run, max_weight_difference
from slug.io import atomic_path, atomic_torch_save, load_tensor_dict, read_json, sha256, write_json
from slug.models import load_model, pick_device
from slug.search import Criterion, SearchTrial, make_delta, retain_drops, retain_score, search_layers, select_trial
from slug.workflow import as_list, setup, versions

p = snakemake.params
cfg, s = p.diffusion, p.diffusion["search"]
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
bundle = load_model(p.model, device)
bundle.model.eval()
info = read_json(snakemake.input.info) if snakemake.input.get("info") else None
subjects, pipe = D.subjects_and_pipeline(cfg, bundle, p.concept_names, info, snakemake.input.get("unet"), device)
n_run = min(cfg["max_text_layer"] or 10**9, layers_run(pipe.text_encoder, cfg["clip_skip"]))
target = p.concept["name"]
params = dict(bundle.model.named_parameters())
g_f = load_tensor_dict(snakemake.input.forget, check_finite=True)

if cfg["edit"] == "clip":
    delta = load_tensor_dict(snakemake.input.clip_delta)
    layers = list(delta)
else:
    layers = D.sd_candidates(pd.read_csv(snakemake.input.layers, sep="\t"), s["max_layers"], n_run)
log.info("text layers the pipeline runs: 0..%d; candidate layers: %s", n_run - 1, layers)
diff = max_weight_difference(bundle.model, pipe.text_encoder, layers)
if diff > (1e-2 if cfg["dtype"] == "float16" else 1e-5):
    raise SystemExit(f"the pipeline's text encoder differs from the gradient model {p.model} on {layers} (max |diff| "
                     f"{diff:.3g}): the SLUG edit must be computed on the pipeline's own CLIP (set model.arch/pretrained "
                     "to the text encoder of diffusion.model)")

rec = D.Recogniser(bundle, subjects)
ps = D.evaluation_prompts(subjects, target, s["target_images"], s["retain_images"], s["retain_images"])
ev = D.GenerationEvaluator(pipe, rec, ps, p.seed, s["steps"], cfg["guidance"], cfg["clip_skip"])
t0 = time.time()
baseline = ev.baseline()
log.info("%d images per trial, %.1fs; original: target %.3f, identities %.3f, objects %.3f (chance %.3f)", len(ps),
         time.time() - t0, baseline["forget_top1"], baseline["retain_id_top1"], baseline["objects_top1"],
         subjects.chance_identity)
criterion = Criterion("forget_top1", subjects.chance_identity + s["forget_margin"])
t0 = time.time()
if cfg["edit"] == "clip":
    check_edit(delta, pipe.text_encoder, cfg["clip_skip"])
    (name, d), = delta.items()
    m = ev.evaluate(delta)
    rho = float(d.float().norm() / params[name].detach().float().norm())
    trials = [SearchTrial(name, "text", 0, rho, rho * float(params[name].detach().float().norm()
                                                            / g_f[name].float().norm()), criterion(m), m)]
else:
    for name in layers:
        check_edit({name: g_f[name]}, pipe.text_encoder, cfg["clip_skip"])
    trials = search_layers(ev, params, g_f, layers, criterion, s["rho_start"], s["max_iter"], s["rel_tol"],
                           progress=log.info)
best, note = select_trial(trials, baseline, s["max_retain_drop"], criterion.metric)
elapsed = time.time() - t0
log.info("chose %s rho=%.4g (%s) in %.1fs", best.layer, best.rho, note, elapsed)
if not note["criterion_met"]:
    log.warning("NO trial brought the target's recognition to <= %s: the closest trial is recorded", criterion.describe())
delta_best = delta if cfg["edit"] == "clip" else {best.layer: make_delta(params[best.layer].detach().cpu(),
                                                                          g_f[best.layer], best.rho)[0]}
atomic_torch_save({k: v.detach().cpu().contiguous() for k, v in delta_best.items()}, snakemake.output.delta)
with atomic_path(snakemake.output.trials) as tmp:
    rows = [{k: v for k, v in t.row().items() if k != "per_subject"} for t in trials]
    pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False, float_format="%.6g")
inputs = {"forget": snakemake.input.forget}
if snakemake.input.get("checkpoint"):
    inputs["checkpoint"] = as_list(snakemake.input.checkpoint)[0]
write_json(snakemake.output.selection, {
    "concept": snakemake.wildcards.concept, "display_name": target, "edit": cfg["edit"],
    "layer": best.layer, "rho": best.rho, "lambda": best.lam,
    "update": "theta[layer] <- theta[layer] - lambda * g_forget[layer], carried into the pipeline's text encoder",
    "criterion": f"target recognition in generated images: {criterion.describe()} (chance {subjects.chance_identity:.3f})",
    **note, "max_retain_drop": s["max_retain_drop"],
    "metrics_search": {k: v for k, v in best.metrics.items() if k != "per_subject"},
    "baseline_search": {k: v for k, v in baseline.items() if k != "per_subject"},
    "retain_score": retain_score(best.metrics), "retain_drop": retain_drops(baseline, best.metrics),
    "layers_searched": layers, "text_layers_run": n_run, "images_per_trial": len(ps), "sampling_steps": s["steps"],
    "seed": p.seed, "model": p.model, "diffusion_model": cfg["model"], "versions": versions(),
    "inputs_sha256": {k: sha256(v) for k, v in inputs.items()},
})
