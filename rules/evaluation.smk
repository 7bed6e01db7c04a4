# Before/after evaluation on held-out data (the 'test' half of the identity and object sets).


rule evaluate:
    input:
        unpack(lambda wc: eval_data()),
        unlearned=rules.unlearn.output.checkpoint,
        forget_tar=rules.curate_forget_set.output.tar,
        nonmember=config["data"]["nonmember_shards"],
        checkpoint=model_checkpoint(),
    output:
        metrics="results/{concept}/metrics.json",
        cosine=report(
            "results/{concept}/cosine_matrix.png",
            caption="captions/cosine.rst",
            category="Evaluation",
            subcategory="{concept}",
            labels={"concept": "{concept}", "figure": "cosine matrix"},
        ),
    log:
        "results/logs/{concept}/evaluate.log",
    benchmark:
        "results/benchmarks/{concept}/evaluate.tsv"
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
        evaluation=config["evaluation"],
        dirs=EVAL_DIRS,
        seed=config["seed"],
        device=config["device"],
    script:
        f"{SCRIPTS}/evaluate.py"
