# One-time gradients. The retain gradient depends only on the model and the retain shards, so it
# is computed once and shared by every concept; the forget gradient is per concept.


rule retain_gradient:
    input:
        shards=retain_shards(),
        checkpoint=model_checkpoint(),
    output:
        "results/models/{model}/retain_grads.pt",
    log:
        "results/logs/retain_gradient/{model}.log",
    benchmark:
        "results/benchmarks/retain_gradient/{model}.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=GPU,
    params:
        model=model_params(),
        batch_size=config["gradients"]["batch_size"],
        max_samples=config["gradients"]["retain_max_samples"],
        seed=config["seed"],
        device=config["device"],
    script:
        f"{SCRIPTS}/gradients.py"


rule forget_gradient:
    input:
        shards=rules.curate_forget_set.output.tar,
        checkpoint=model_checkpoint(),
    output:
        "results/{concept}/forget_grads.pt",
    log:
        "results/logs/{concept}/forget_gradient.log",
    benchmark:
        "results/benchmarks/{concept}/forget_gradient.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPU,
    params:
        model=model_params(),
        batch_size=config["gradients"]["batch_size"],
        max_samples=None,
        seed=config["seed"],
        device=config["device"],
    script:
        f"{SCRIPTS}/gradients.py"
