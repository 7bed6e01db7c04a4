"""The unlearned text encoder as a Hugging Face folder, its delta in safetensors and its model card (rule `sd_export`)."""
from slug.stages.diffusion import export_unlearned
from slug.workflow import present, setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
export_unlearned(p.model, present(snakemake.input, ("selection", "delta", "metrics", "forget_stats", "unet")), p.diffusion,
                 snakemake.wildcards.concept, p.base_pipeline, dict(snakemake.output.items()), p.report, p.demo, log)
