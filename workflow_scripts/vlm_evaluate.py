"""Before/after answers of the VLM under several phrasings (rule `vlm_evaluate`): see slug.stages.vlm.evaluate_edit."""
from slug.io import write_json, write_tsv
from slug.clip.models import pick_device
from slug.report.plots import vlm_examples_plot
from slug.stages.vlm import evaluate_edit
from slug.workflow import setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
inputs = {"vlm": p.vlm_dir, "selection": snakemake.input.selection, "delta": snakemake.input.delta,
          **dict(zip(("identities", "characters"), snakemake.input.world)), "image_size": p.image_size, "seed": p.seed}
metrics, examples, images = evaluate_edit(p.model, pick_device(p.device), inputs, snakemake.wildcards.concept,
                                          p.concept["name"], p.concept["kind"], p.vlm, p.dirs, log)
write_json(snakemake.output.metrics, metrics)
write_tsv(snakemake.output.examples, examples)
vlm_examples_plot(examples, images, snakemake.output.figure)
