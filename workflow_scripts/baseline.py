"""Run one comparison method (FT, GA, GAFT, SalUn, SSD) on one concept (rule `baseline`)."""
from slug.io import write_json, write_tsv
from slug.clip.models import pick_device, save_state_dict
from slug.export.clip import write_clip_model
from slug.stages.baselines import run_method
from slug.workflow import as_list, setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
model, trace, run = run_method(snakemake.wildcards.method, p.model, pick_device(p.device), snakemake.input.forget_tar,
                               as_list(snakemake.input.shards), snakemake.wildcards.concept, p.concept["name"],
                               p.hparams, p.retain_pairs, p.criterion, p.caps, p.dirs, p.seed,
                               log, p.concept["kind"])
write_tsv(snakemake.output.trace, trace)
save_state_dict(model, snakemake.output.checkpoint)
write_clip_model(snakemake.output.model, model.state_dict(), {
    "concept": snakemake.wildcards.concept, "kind": p.concept["kind"], "method": snakemake.wildcards.method,
    "base_arch": p.model["arch"], "base_pretrained": str(p.model["pretrained"])})
write_json(snakemake.output.run, run)
