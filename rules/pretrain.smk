# The model every stage starts from, as results/models/{model}/checkpoint.pt: the demo CLIP trained
# on the downloaded shards with ClipLoss (model.pretrained: train), or published weights fetched
# once (an open_clip tag). A checkpoint path in the config is used as it is (neither rule runs).


rule pretrain:
    input:
        shards=all_shards(),
        arch=arch_config(),
    output:
        checkpoint="results/models/{model}/checkpoint.pt",
        losses="results/models/{model}/pretrain_loss.tsv",
    log:
        "results/logs/pretrain/{model}.log",
    benchmark:
        "results/benchmarks/pretrain/{model}.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=GPU,
    params:
        arch=config["model"]["arch"],
        train=config["pretrain"],
        seed=config["seed"],
        device=config["device"],
    script:
        f"{SCRIPTS}/pretrain.py"


if config["model"]["pretrained"] != "train" and not is_local_checkpoint(config["model"]["pretrained"]):

    # A published open_clip tag: its weights are downloaded once, on the machine Snakemake runs on
    # (cluster compute nodes often have no internet), into the same checkpoint file; every later
    # job loads that file.
    rule fetch_pretrained:
        output:
            checkpoint="results/models/{model}/checkpoint.pt",
            source="results/models/{model}/source.json",
        log:
            "results/logs/fetch_pretrained/{model}.log",
        benchmark:
            "results/benchmarks/fetch_pretrained/{model}.tsv"
        localrule: True  # a check or a download: runs where Snakemake runs, not as a cluster job
        conda:
            CONDA_ENV
        resources:
            mem_mb=8000,  # ViT-H-14 (SD 2.1's text encoder) in fp32 and its saved copy
            runtime=60,
        params:
            arch=config["model"]["arch"],
            tag=config["model"]["pretrained"],
            cache_dir=config["model"]["cache_dir"],
        script:
            f"{SCRIPTS}/fetch_pretrained.py"

    ruleorder: fetch_pretrained > pretrain  # the same checkpoint file; pretrain is for "train" only


rule zeroshot:
    input:
        unpack(lambda wc: eval_data()),
        checkpoint=model_checkpoint(),
    output:
        "results/models/{model}/zeroshot.json",
    log:
        "results/logs/zeroshot/{model}.log",
    benchmark:
        "results/benchmarks/zeroshot/{model}.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU,
    params:
        model=model_params(),
        caps=eval_caps("evaluation"),
        dirs=EVAL_DIRS,
        device=config["device"],
        seed=config["seed"],
    script:
        f"{SCRIPTS}/zeroshot.py"
