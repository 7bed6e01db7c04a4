"""Before/after generations of the target and retain prompts, same noise, and their recognition (rule `sd_evaluate`)."""
from slug.diffusion import save_grid_png
from slug.io import write_json
from slug.clip.models import pick_device
from slug.stages.diffusion import evaluate_generation
from slug.workflow import present, setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
inputs = present(snakemake.input, ("selection", "delta", "info", "unet"))
metrics, grids = evaluate_generation(p.model, pick_device(p.device), inputs, snakemake.wildcards.concept,
                                     p.concept["name"], p.diffusion, log, p.concept["kind"])
for key, images in grids.items():
    save_grid_png(images, snakemake.output[key])
write_json(snakemake.output.metrics, metrics)
