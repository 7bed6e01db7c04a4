"""Step-size search over the Pareto-front layers and the choice of the step (rule `search_step`)."""
from slug.io import write_json, write_tsv
from slug.clip.models import pick_device
from slug.stages.clip import search_step
from slug.workflow import present, setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
inputs = present(snakemake.input, ("forget", "layers", "checkpoint"))
trials, selection = search_step(p.model, pick_device(p.device), inputs, snakemake.wildcards.concept, p.concept["name"],
                                p.search, p.dirs, p.seed, log, p.concept["kind"])
write_tsv(snakemake.output.trials, trials)
write_json(snakemake.output.selection, selection)
