# A self-contained HTML report per concept (plots inlined), readable offline.

STAGES = list(CONCEPT_STAGES)  # slug.config: the rules of one concept's chain


rule report:
    input:
        unpack(sd_report_inputs),  # rules/diffusion.smk: none unless diffusion.enabled (and SD unlearns the kind)
        metrics=rules.evaluate.output.metrics,
        selection=rules.search_step.output.selection,
        trials=rules.search_step.output.trials,
        layers=rules.rank_layers.output.table,
        forget_stats=rules.curate_forget_set.output.stats,
        pareto_vision=rules.rank_layers.output.vision,
        pareto_text=rules.rank_layers.output.text,
        cosine=rules.evaluate.output.cosine,
        benchmarks=[getattr(rules, stage).benchmark for stage in STAGES],
        retain_benchmark=expand(rules.retain_gradient.benchmark, model=MODEL)[0],
        zeroshot=expand(rules.zeroshot.output[0], model=MODEL)[0],
    output:
        report(
            "results/{concept}/report.html",
            caption="captions/report.rst",
            category="Concept reports",
            subcategory="{concept}",
            labels={"concept": "{concept}", "figure": "SLUG report"},
        ),
    log:
        "results/logs/{concept}/report.log",
    benchmark:
        "results/benchmarks/{concept}/report.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        concept=concept_info,
        config=config,
        stages=STAGES,
    script:
        f"{SCRIPTS}/report.py"
