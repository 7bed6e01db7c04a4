"""Before/after evaluation on held-out data (rule `evaluate`)."""
from slug.io import write_json
from slug.clip.models import pick_device
from slug.report.plots import cosine_plot
from slug.stages.clip import evaluate_concept
from slug.workflow import as_list, setup

p = snakemake.params
log = setup(snakemake.log[0], snakemake.threads, p.seed)
metrics, mats = evaluate_concept(p.model, pick_device(p.device), snakemake.input.unlearned, snakemake.input.forget_tar,
                                 as_list(snakemake.input.nonmember), snakemake.wildcards.concept, p.concept["name"],
                                 p.evaluation, p.dirs, p.seed, log, p.concept["kind"])
prompts = "'{name}.'" if p.concept["kind"] == "person" else f"the {metrics['target_task']} task's templates"
cosine_plot(mats["before"], mats["after"], metrics["cosine_names"], snakemake.output.cosine, prompts)
write_json(snakemake.output.metrics, metrics)
