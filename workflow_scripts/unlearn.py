"""Write the single-layer delta and the full unlearned model, as .pt and safetensors (rule `unlearn`)."""
from slug.io import read_json
from slug.stages.clip import unlearn
from slug.workflow import setup

log = setup(snakemake.log[0])
unlearn(snakemake.params.model, read_json(snakemake.input.selection), snakemake.input.forget,
        dict(snakemake.output.items()), log)
