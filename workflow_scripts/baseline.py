"""Run one comparison method (FT, GA, GAFT, SalUn, SSD) on one concept (rule `baseline`)."""
import pandas as pd

from slug.baselines import BaselineConfig, evaluate_model, first_meeting, run_baseline
from slug.baselines import method as baseline_method
from slug.data import load_pairs
from slug.evaluation import load_eval_set
from slug.io import atomic_path, write_json
from slug.models import load_model, pick_device, save_state_dict
from slug.search import Criterion
from slug.workflow import as_list, setup, versions

p = snakemake.params
method = snakemake.wildcards.method
log = setup(snakemake.log[0], snakemake.threads, p.seed)
device = pick_device(p.device)
bundle = load_model(p.model, device)
tok = bundle.tokenizer
cfg = BaselineConfig(seed=p.seed, **p.hparams)
log.info("%s on %s: %s", method, p.concept["name"], cfg)
# the same transforms as SLUG's gradients: forget pairs as evaluated, retain pairs as trained
forget = load_pairs([snakemake.input.forget_tar], bundle.preprocess_val, tok)[:2]
retain = (load_pairs(as_list(snakemake.input.shards), bundle.preprocess_train, tok, limit=p.retain_pairs)[:2]
          if baseline_method(method).needs_retain else (forget[0][:0], forget[1][:0]))
log.info("%d forget pairs, %d retain pairs", len(forget[0]), len(retain[0]))
# the stopping rule sees the search half of the held-out sets, as SLUG's step search; the report uses the other half
es = load_eval_set(p.celeba_dir, p.imagenet_dir, "search", bundle.preprocess_val, **p.caps,
                   keep=[p.concept["name"]])
target = es.target_index(p.concept["name"])
criterion = Criterion(p.criterion["metric"], p.criterion["max"])
records = run_baseline(method, bundle.model, forget, retain, cfg, lambda m: evaluate_model(m, tok, es, target),
                       criterion, log=log.info)
chosen = first_meeting(records)
if not chosen.meets_criterion:
    log.warning("%s did not meet %s in %d epochs: the last epoch is kept and reported as not meeting it",
                method, criterion.describe(), cfg.max_epochs)
with atomic_path(snakemake.output.trace) as tmp:
    pd.DataFrame([r.row() for r in records]).to_csv(tmp, sep="\t", index=False, float_format="%.6g")
save_state_dict(bundle.model, snakemake.output.checkpoint)
write_json(snakemake.output.run, {
    "concept": snakemake.wildcards.concept, "method": method, "criterion": criterion.describe(),
    "criterion_met": chosen.meets_criterion, "epochs": chosen.epoch, "unlearn_s": chosen.unlearn_s,
    "grad_steps": chosen.grad_steps, "hparams": vars(cfg), "retain_pairs": len(retain[0]),
    "forget_pairs": len(forget[0]), "metrics_search_split": chosen.metrics,
    "baseline_search_split": records[0].metrics, "model": p.model, "versions": versions(),
})
