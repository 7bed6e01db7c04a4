"""Step-size search over the Pareto-front layers and the choice of the step (rule `search_step`)."""
import math
import time

import pandas as pd

from slug.config import image_caps
from slug.evaluation import CachedEvaluator, load_eval_set
from slug.io import atomic_path, load_tensor_dict, sha256, write_json
from slug.models import load_model, pick_device
from slug.ranking import candidates
from slug.search import (RETAIN_METRICS, SELECTION_RULE, Criterion, make_delta, retain_drops, retain_score,
                         search_layers, select_trial, with_margin)
from slug.workflow import as_list, setup, versions

p = snakemake.params
s = p.search
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
bundle = load_model(p.model, device)
bundle.model.eval()
params = {k: v for k, v in bundle.model.named_parameters()}
g_f = load_tensor_dict(snakemake.input.forget, check_finite=True)
layers_df = pd.read_csv(snakemake.input.layers, sep="\t")
layers = candidates(layers_df, s["towers"], s["max_layers_per_tower"])
log.info("searching %d front layers: %s", len(layers), layers)

es = load_eval_set(p.celeba_dir, p.imagenet_dir, "search", bundle.preprocess_val, **image_caps(s), keep=[p.concept["name"]])
target = es.target_index(p.concept["name"])
evaluator = CachedEvaluator(bundle.model, bundle.tokenizer, es, target)
baseline = evaluator.baseline()
log.info("original model (search split): %s", baseline)
criterion = Criterion(s["criterion"]["metric"], s["criterion"]["max"])
t0 = time.time()
trials = search_layers(evaluator, params, g_f, layers, criterion, s["rho_start"], s["max_iter"], s["rel_tol"],
                       progress=log.info, retain_on_fail=s["retain_on_fail"])
best, note = select_trial(trials, baseline, s["max_retain_drop"], criterion.metric)
if any(math.isnan(best.metrics.get(k, 0.0)) for k in RETAIN_METRICS):  # nothing forgot: evaluate the closest fully
    best.metrics = evaluator.evaluate({best.layer: make_delta(params[best.layer].detach(), g_f[best.layer], best.rho)[0]})
threshold_rho = best.rho
if s["rho_margin"] > 0 and note["criterion_met"]:
    best = with_margin(evaluator, params, g_f, best, criterion, s["rho_margin"])
    trials.append(best)
    log.info("step enlarged by search.rho_margin=%g: rho %.4g -> %.4g, retain %.3f", s["rho_margin"], threshold_rho,
             best.rho, retain_score(best.metrics))
elapsed = time.time() - t0
log.info("chose %s rho=%.4g (%s) in %.1fs", best.layer, best.rho, note, elapsed)
if not note["criterion_met"]:
    log.warning("NO trial met the forget criterion %s: the closest trial is recorded; raise search.max_iter "
                "or allow more towers/layers", criterion.describe())

with atomic_path(snakemake.output.trials) as tmp:
    pd.DataFrame([t.row() for t in trials]).to_csv(tmp, sep="\t", index=False, float_format="%.6g")
inputs = {k: snakemake.input[k] for k in ("forget", "layers")}
if snakemake.input.checkpoint:
    inputs["checkpoint"] = as_list(snakemake.input.checkpoint)[0]
write_json(snakemake.output.selection, {
    "concept": snakemake.wildcards.concept, "display_name": p.concept["name"],
    "layer": best.layer, "tower": best.tower, "rho": best.rho, "lambda": best.lam,
    "rho_threshold": threshold_rho, "rho_margin": s["rho_margin"],
    "update": "theta[layer] <- theta[layer] - lambda * g_forget[layer]",
    "criterion": criterion.describe(), **note,
    "selection_rule": SELECTION_RULE, "max_retain_drop": s["max_retain_drop"],
    "metrics_search_split": best.metrics, "baseline_search_split": baseline,
    "retain_score": retain_score(best.metrics), "baseline_retain_score": retain_score(baseline),
    "retain_drop": retain_drops(baseline, best.metrics),
    "layers_searched": layers, "seed": p.seed,  # timings live in the benchmark files: this file is reproducible
    "model": p.model, "versions": versions(),
    "inputs_sha256": {k: sha256(v) for k, v in inputs.items()},
})
