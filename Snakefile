# slug-pipeline: SLUG (Single Layer Unlearning Gradient) as a Snakemake workflow.
#   snakemake results/elon_musk/report.html --cores 2          (demo world, config.yaml)
#   snakemake all --cores 8 --configfile configs/paper-vit-b-32.yaml   (every concept + summary)
#   snakemake results/comparison.html --cores 8                     (SLUG vs FT, GA, GAFT, SalUn, SSD)
# One concept's DAG: shards -> forget tar -> gradients -> layer ranking -> step search ->
# unlearned checkpoint -> evaluation -> report. Read rules/*.smk in this order.
from snakemake.utils import min_version

min_version("9.0")


# The demo world is the default; a --configfile (e.g. configs/paper-vit-b-32.yaml) replaces it
# rather than being merged into it.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/download.smk"
include: "rules/pretrain.smk"
include: "rules/curation.smk"
include: "rules/gradients.smk"
include: "rules/ranking.smk"
include: "rules/search.smk"
include: "rules/unlearn.smk"
include: "rules/evaluation.smk"
include: "rules/diffusion.smk"
include: "rules/vlm.smk"
include: "rules/report.smk"
include: "rules/baselines.smk"
include: "rules/batch.smk"
include: "rules/joint.smk"


rule all:
    # Batch unlearning: every concept of the config (each from the original model), the summary,
    # and every joint set. The baselines comparison is its own target: results/comparison.html.
    default_target: True
    input:
        expand("results/{concept}/report.html", concept=CONCEPTS),
        "results/summary.html",
        expand("results/joint/{joint_set}/report.html", joint_set=JOINT),


onerror:
    # A batch run (--keep-going) where some concepts failed still gets a summary naming them.
    from slug.report.comparison import failed_concepts, write_summary

    try:
        df = write_summary(CONCEPTS, "results/summary.tsv", "results/summary.html")
        failed = failed_concepts(df)
        if failed:
            print(
                f"results/summary.tsv lists the concepts that failed ({', '.join(failed)}; their logs are under "
                "results/logs/<concept>/)."
            )
    except Exception as exc:  # the summary must never hide the original error
        print(f"could not write results/summary.tsv: {exc}")
