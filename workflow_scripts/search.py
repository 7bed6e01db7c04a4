"""Step-size search over the Pareto-front layers and the choice of the step (rule `search_step`)."""
import time

import pandas as pd

from slug.config import image_caps
from slug.evaluation import CachedEvaluator, load_eval_set
from slug.io import atomic_path, load_tensor_dict, sha256, write_json
from slug.models import load_model, pick_device
from slug.ranking import candidates
from slug.search import Criterion, run_search, selection_record, trials_table
from slug.workflow import as_list, setup, versions

p = snakemake.params
s = p.search
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
bundle = load_model(p.model, device)
bundle.model.eval()
params = {k: v for k, v in bundle.model.named_parameters()}
g_f = load_tensor_dict(snakemake.input.forget, check_finite=True)
layers = candidates(pd.read_csv(snakemake.input.layers, sep="\t"), s["towers"], s["max_layers_per_tower"])
log.info("searching %d front layers: %s", len(layers), layers)

es = load_eval_set(p.celeba_dir, p.imagenet_dir, "search", bundle.preprocess_val, **image_caps(s), keep=[p.concept["name"]])
evaluator = CachedEvaluator(bundle.model, bundle.tokenizer, es, es.target_index(p.concept["name"]))
baseline = evaluator.baseline()
log.info("original model (search split): %s", baseline)
criterion = Criterion(s["criterion"]["metric"], s["criterion"]["max"])
t0 = time.time()
out = run_search(evaluator, params, g_f, layers, criterion, baseline, rho_start=s["rho_start"], max_iter=s["max_iter"],
                 rel_tol=s["rel_tol"], max_retain_drop=s["max_retain_drop"], rho_margin=s["rho_margin"],
                 retain_on_fail=s["retain_on_fail"], progress=log.info)
log.info("chose %s rho=%.4g (threshold %.4g, %s) in %.1fs", out.best.layer, out.best.rho, out.rho_threshold, out.note,
         time.time() - t0)
if not out.note["criterion_met"]:
    log.warning("NO trial met the forget criterion %s: the closest trial is recorded; raise search.max_iter "
                "or allow more towers/layers", criterion.describe())

with atomic_path(snakemake.output.trials) as tmp:
    trials_table(out.trials).to_csv(tmp, sep="\t", index=False, float_format="%.6g")
inputs = {k: snakemake.input[k] for k in ("forget", "layers")}
if snakemake.input.checkpoint:
    inputs["checkpoint"] = as_list(snakemake.input.checkpoint)[0]
record = selection_record(out, criterion, layers, max_retain_drop=s["max_retain_drop"], rho_margin=s["rho_margin"])
write_json(snakemake.output.selection, {
    "concept": snakemake.wildcards.concept, "display_name": p.concept["name"], **record,
    "update": "theta[layer] <- theta[layer] - lambda * g_forget[layer]",
    "seed": p.seed,  # timings live in the benchmark files: this file is reproducible
    "model": p.model, "versions": versions(), "inputs_sha256": {k: sha256(v) for k, v in inputs.items()},
})
