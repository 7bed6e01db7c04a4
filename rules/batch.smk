# Batch unlearning: every concept of the config, each from the original model, sharing the model,
# the shards and the retain gradient; one summary table and page over all of them.


rule summary:
    input:
        selections=expand(rules.search_step.output.selection, concept=CONCEPTS),
        metrics=expand(rules.evaluate.output.metrics, concept=CONCEPTS),
        reports=expand(rules.report.output[0], concept=CONCEPTS),
    output:
        table="results/summary.tsv",
        html=report("results/summary.html", caption="captions/summary.rst", category="Batch"),
    log:
        "results/logs/summary.log",
    benchmark:
        "results/benchmarks/summary.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        concepts=CONCEPTS,
        root=lambda wildcards, output: os.path.dirname(output.table),
    script:
        f"{SCRIPTS}/summary.py"
