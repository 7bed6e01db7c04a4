"""The concept's text-encoder edit for Stable Diffusion (rule `sd_search`): see slug.stages.diffusion.search_edit."""
from slug.io import atomic_torch_save, write_json, write_tsv
from slug.clip.models import pick_device
from slug.stages.diffusion import search_edit
from slug.workflow import present, setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
inputs = present(snakemake.input, ("forget", "layers", "clip_delta", "info", "unet", "checkpoint"))
delta, trials, selection = search_edit(p.model, pick_device(p.device), inputs, snakemake.wildcards.concept,
                                       p.concept["name"], p.diffusion, p.seed, log, p.concept["kind"])
atomic_torch_save(delta, snakemake.output.delta)
write_tsv(snakemake.output.trials, trials)
write_json(snakemake.output.selection, selection)
