# Step-size search on every Pareto-front layer (allowed towers), then the choice of one step.


rule search_step:
    input:
        unpack(lambda wc: eval_data()),
        layers=rules.rank_layers.output.table,
        forget=rules.forget_gradient.output[0],
        checkpoint=model_checkpoint(),
    output:
        trials="results/{concept}/search.tsv",
        selection="results/{concept}/selection.json",
    log:
        "results/logs/{concept}/search_step.log",
    benchmark:
        "results/benchmarks/{concept}/search_step.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=GPU,
    params:
        concept=concept_info,
        model=model_params(),
        search=config["search"],
        dirs=EVAL_DIRS,
        seed=config["seed"],
        device=config["device"],
    script:
        f"{SCRIPTS}/search.py"
