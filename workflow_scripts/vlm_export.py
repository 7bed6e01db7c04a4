"""The VLM edit as a delta file in the LLaVA's own names, with its base's checksum (rule `vlm_export`)."""
from slug.stages.vlm import export_edit
from slug.workflow import setup

p = snakemake.params
log = setup(snakemake.log[0], 1, p.seed)
inputs = {"vlm": p.vlm_dir, "selection": snakemake.input.selection, "delta": snakemake.input.delta}
export_edit(p.model, inputs, p.vlm, snakemake.output.delta, log)
