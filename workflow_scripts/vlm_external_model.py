"""Stop with instructions when a real LLaVA is not on disk (configs/paper-llava15.yaml)."""
from slug.workflow import setup

setup(snakemake.log[0])
raise SystemExit(
    f"the LLaVA {snakemake.params.model!r} is not in {snakemake.params.model_dir}/ (no config.json).\n"
    "Download it once on a machine with internet access, e.g.\n"
    f"  huggingface-cli download {snakemake.params.model} --local-dir {snakemake.params.model_dir}\n"
    "(about 14 GB in float16), then rerun the workflow; its vision tower must be the gradient model's CLIP "
    "(model.arch ViT-L-14-336-quickgelu, model.pretrained openai)."
)
