# The forget set: every pair whose caption names the concept (whole words), deduplicated, capped.


rule curate_forget_set:
    input:
        shards=forget_shards(),
    output:
        tar="results/{concept}/forget.tar",
        stats="results/{concept}/forget_stats.json",
    log:
        "results/logs/{concept}/curate_forget_set.log",
    benchmark:
        "results/benchmarks/{concept}/curate_forget_set.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        concept=concept_info,
        max_images=config["forget"]["max_images"],
        min_images=config["forget"]["min_images"],
    script:
        f"{SCRIPTS}/curate.py"


rule reject_ill_formed_concept:
    # A guard: a target whose concept id is not snake_case fails here with a message that names it
    # and the fix, instead of Snakemake's generic "no rule to produce".
    output:
        "results/{bad_concept}/report.html",
    log:
        "results/logs/rejected/{bad_concept}.log",
    benchmark:
        "results/benchmarks/rejected/{bad_concept}.tsv"
    wildcard_constraints:
        bad_concept="|".join(RESERVED_IDS) + r"|[^/]*[^a-z0-9_/][^/]*",
    localrule: True  # a check or a download: runs where Snakemake runs, not as a cluster job
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        f"{SCRIPTS}/reject_concept.py"
