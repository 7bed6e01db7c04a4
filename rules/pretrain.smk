# The demo CLIP: a small open_clip model trained on the downloaded shards with ClipLoss.
# Skipped by configs whose model.pretrained is a published tag or a checkpoint path.


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
    params:
        arch=config["model"]["arch"],
        train=config["pretrain"],
        seed=config["seed"],
        device=config["device"],
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=int(config["device"] != "cpu"),  # a GPU unless the config asks for the CPU
    conda:
        CONDA_ENV
    script:
        f"{SCRIPTS}/pretrain.py"


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
    params:
        model=model_params(),
        caps=eval_caps("evaluation"),
        celeba_dir=CELEBA,
        imagenet_dir=IMAGENET,
        device=config["device"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=int(config["device"] != "cpu"),  # a GPU unless the config asks for the CPU
    conda:
        CONDA_ENV
    script:
        f"{SCRIPTS}/zeroshot.py"
