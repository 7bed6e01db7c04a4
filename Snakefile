# slug-pipeline: SLUG (Single Layer Unlearning Gradient) as a Snakemake workflow.
#   snakemake results/elon_musk/report.html --cores 2          (demo world, config.yaml)
#   snakemake all --cores 8 --configfile configs/paper-vit-b-32.yaml
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
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        expand("results/{concept}/report.html", concept=CONCEPTS),
