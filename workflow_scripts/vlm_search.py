"""The concept's vision-tower edit for the VLM (rule `vlm_search`): see slug.stages.vlm.search_edit."""
from slug.io import atomic_torch_save, write_json, write_tsv
from slug.clip.models import pick_device
from slug.stages.vlm import search_edit
from slug.workflow import setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
inputs = {"vlm": p.vlm_dir, "forget": snakemake.input.forget, "layers": snakemake.input.layers}
delta, trials, selection = search_edit(p.model, pick_device(p.device), inputs, snakemake.wildcards.concept,
                                       p.concept["name"], p.concept["kind"], p.vlm, p.dirs, p.seed, log)
atomic_torch_save(delta, snakemake.output.delta)
write_tsv(snakemake.output.trials, trials)
write_json(snakemake.output.selection, selection)
