"""Stop with instructions when a real Stable Diffusion pipeline is not on disk (paper SD configs)."""
from slug.workflow import setup

setup(snakemake.log[0])
raise SystemExit(
    f"the diffusers pipeline {snakemake.params.model!r} is not in {snakemake.params.pipeline_dir}/ (no model_index.json).\n"
    "Download it once on a machine with internet access, e.g.\n"
    f"  huggingface-cli download {snakemake.params.model} --local-dir {snakemake.params.pipeline_dir} "
    "--include 'model_index.json' 'scheduler/*' 'text_encoder/*' 'tokenizer/*' 'unet/*' 'vae/*'\n"
    "(accept the model's licence on huggingface.co first), then rerun the workflow."
)
