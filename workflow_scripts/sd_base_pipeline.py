"""The demo's original Stable Diffusion pipeline as a diffusers folder (rule `sd_base_pipeline`)."""
from slug.stages.diffusion import export_base_pipeline
from slug.workflow import present, setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
export_base_pipeline(p.model, "cpu", present(snakemake.input, ("unet",)), p.diffusion, snakemake.output[0], log)
