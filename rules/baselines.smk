# The paper's comparison methods (FT, GA, GAFT, SalUn, SSD) on the same model, forget set, retain set
# and evaluation code as SLUG, and the comparison of all methods per concept and over a concept set.

BASELINES = config["baselines"]["methods"]
SLUG_RULES = list(SLUG_STAGES)  # slug.config: the rules that are SLUG's own cost per concept


from slug.baselines import METHODS  # noqa: E402  (the registry: the schema's enum and the scripts read it too)


wildcard_constraints:
    method="|".join(METHODS),


rule baseline:
    input:
        unpack(lambda wc: eval_data()),
        forget_tar=rules.curate_forget_set.output.tar,
        shards=retain_shards(),
        checkpoint=model_checkpoint(),
    output:
        checkpoint="results/{concept}/baselines/{method}/checkpoint.pt",
        model="results/{concept}/baselines/{method}/model.safetensors",
        trace="results/{concept}/baselines/{method}/trace.tsv",
        run="results/{concept}/baselines/{method}/run.json",
    log:
        "results/logs/{concept}/baseline_{method}.log",
    benchmark:
        "results/benchmarks/{concept}/baseline_{method}.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPU,
    params:
        concept=concept_info,
        model=model_params(),
        hparams=baseline_hparams,
        retain_pairs=config["baselines"]["retain_pairs"],
        criterion=config["search"]["criterion"],
        caps=eval_caps("search"),
        dirs=EVAL_DIRS,
        seed=config["seed"],
        device=config["device"],
    script:
        f"{SCRIPTS}/baseline.py"


use rule evaluate as evaluate_baseline with:
    input:
        unpack(lambda wc: eval_data()),
        unlearned=rules.baseline.output.checkpoint,
        forget_tar=rules.curate_forget_set.output.tar,
        nonmember=config["data"]["nonmember_shards"],
        checkpoint=model_checkpoint(),
    output:
        metrics="results/{concept}/baselines/{method}/metrics.json",
        cosine="results/{concept}/baselines/{method}/cosine_matrix.png",
    log:
        "results/logs/{concept}/evaluate_{method}.log",
    benchmark:
        "results/benchmarks/{concept}/evaluate_{method}.tsv"


rule compare_methods:
    input:
        slug_metrics=rules.evaluate.output.metrics,
        slug_selection=rules.search_step.output.selection,
        slug_benchmarks=[getattr(rules, stage).benchmark for stage in SLUG_RULES],
        retain_benchmark=expand(rules.retain_gradient.benchmark, model=MODEL)[0],
        retain_stats=[shard_path(i, "stats") for i in config["data"]["retain_shards"]],
        metrics=expand(rules.evaluate_baseline.output.metrics, method=BASELINES, allow_missing=True),
        runs=expand(rules.baseline.output.run, method=BASELINES, allow_missing=True),
        benchmarks=expand(rules.baseline.benchmark, method=BASELINES, allow_missing=True),
    output:
        table="results/{concept}/comparison.tsv",
        plot=report(
            "results/{concept}/comparison.png",
            caption="captions/comparison.rst",
            category="Baselines",
            subcategory="{concept}",
            labels={"concept": "{concept}", "figure": "comparison"},
        ),
    log:
        "results/logs/{concept}/compare_methods.log",
    benchmark:
        "results/benchmarks/{concept}/compare_methods.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        concept=concept_info,
        methods=BASELINES,
        slug_stages=SLUG_RULES,
        batch_size=config["gradients"]["batch_size"],
        retain_max_samples=config["gradients"]["retain_max_samples"],
    script:
        f"{SCRIPTS}/compare.py"


rule comparison_report:
    input:
        tables=expand(rules.compare_methods.output.table, concept=config["comparison"]["concepts"]),
        plots=expand(rules.compare_methods.output.plot, concept=config["comparison"]["concepts"]),
    output:
        table="results/comparison.tsv",
        html=report("results/comparison.html", caption="captions/comparison.rst", category="Baselines"),
    log:
        "results/logs/comparison_report.log",
    benchmark:
        "results/benchmarks/comparison_report.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        concepts=config["comparison"]["concepts"],
        criterion=config["search"]["criterion"],
        baselines=config["baselines"],
    script:
        f"{SCRIPTS}/comparison_report.py"
