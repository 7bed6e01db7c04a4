# A self-contained HTML report per concept (plots inlined), readable offline.

STAGES = list(CONCEPT_STAGES)  # slug.config: the rules of one concept's chain
DEMO = "world" in config  # the embedded demo world (its model cards say so)


rule model_card:
    # README.md beside the unlearned model (Hugging Face model-card layout): what was removed, the base and
    # its checksum, the data, the before/after metrics with intervals, limitations and how to load it.
    input:
        manifest=rules.unlearn.output.manifest,
        selection=rules.search_step.output.selection,
        metrics=rules.evaluate.output.metrics,
        forget_stats=rules.curate_forget_set.output.stats,
    output:
        "results/{concept}/unlearned/README.md",
    log:
        "results/logs/{concept}/model_card.log",
    benchmark:
        "results/benchmarks/{concept}/model_card.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        retain={"shards": retain_shards(), "max_samples": config["gradients"]["retain_max_samples"]},
        demo=DEMO,
        report=lambda wc: f"results/{wc.concept}/report.html",
    script:
        f"{SCRIPTS}/model_card.py"


rule report:
    input:
        unpack(sd_report_inputs),  # rules/diffusion.smk: none unless diffusion.enabled (and SD unlearns the kind)
        unpack(vlm_report_inputs),  # rules/vlm.smk: none unless vlm.enabled (and the VLM names the kind)
        metrics=rules.evaluate.output.metrics,
        model_card=rules.model_card.output[0],
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
