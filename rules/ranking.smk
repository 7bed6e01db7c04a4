# Layer ranking: importance ||g_f||/||theta|| against alignment |cos(g_f, g_r)|, Pareto front per tower.


rule rank_layers:
    input:
        forget=rules.forget_gradient.output[0],
        retain=expand(rules.retain_gradient.output[0], model=MODEL)[0],
        checkpoint=model_checkpoint(),
    output:
        table="results/{concept}/layers.tsv",
        vision=report(
            "results/{concept}/pareto_vision.png",
            caption="captions/pareto.rst",
            category="Layer ranking",
            subcategory="{concept}",
            labels={"concept": "{concept}", "figure": "Pareto front, vision tower"},
        ),
        text=report(
            "results/{concept}/pareto_text.png",
            caption="captions/pareto.rst",
            category="Layer ranking",
            subcategory="{concept}",
            labels={"concept": "{concept}", "figure": "Pareto front, text tower"},
        ),
    log:
        "results/logs/{concept}/rank_layers.log",
    benchmark:
        "results/benchmarks/{concept}/rank_layers.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        model=model_params(),
        include_layernorm=config["ranking"]["include_layernorm"],
    script:
        f"{SCRIPTS}/rank_layers.py"
