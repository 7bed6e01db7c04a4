# Stable Diffusion unlearning through the CLIP text encoder (diffusion.enabled): the concept's SLUG
# edit of one text layer, carried into a diffusers StableDiffusionPipeline, judged on generated images.
#   demo: train a small pixel-space UNet on the demo world, conditioned on the demo CLIP's text tower;
#   paper (configs/paper-sd15.yaml, paper-sd21.yaml): a local copy of the real pipeline.
SD = config["diffusion"]
SD_DEMO = SD["model"] == "train"


SD_MODEL_INPUTS = (
    {"unet": f"results/models/{MODEL}/sd/unet", "info": f"results/models/{MODEL}/sd/train.json"}
    if SD_DEMO
    else {"pipeline": f"{SD['pipeline_dir']}/model_index.json"}
)
# What the search and the evaluation read; a concept's SD jobs do not depend on the other concepts
# (the demo's generator subjects come from train.json, a real pipeline's from diffusion.identities).
SD_PARAMS = {
    "diffusion": SD,
    "model": model_params(),
    "seed": config["seed"],
    "device": config["device"],
}
SD_GRIDS = ("target_before", "target_after", "retain_before", "retain_after")
# The base pipeline a user loads the unlearned text encoder into: the demo's, exported by sd_base_pipeline;
# a real one is the local diffusers folder.
SD_BASE_PIPELINE = f"results/models/{MODEL}/sd/pipeline" if SD_DEMO else SD["pipeline_dir"]
if SD_DEMO:

    rule sd_train:
        input:
            identities=os.path.join(WORLD_DIR, "identities.json"),
            characters=os.path.join(WORLD_DIR, "characters.json"),
            checkpoint=model_checkpoint(),
        output:
            unet=directory("results/models/{model}/sd/unet"),
            loss="results/models/{model}/sd/train_loss.tsv",
            info="results/models/{model}/sd/train.json",
        log:
            "results/logs/sd/{model}/sd_train.log",
        benchmark:
            "results/benchmarks/sd/{model}/sd_train.tsv"
        conda:
            CONDA_ENV
        threads: 2
        resources:
            mem_mb=4000,
            runtime=30,
            gpu=GPU,
        params:
            # only what training reads, so a search or evaluation setting does not retrain the UNet
            **{
                **SD_PARAMS,
                "diffusion": {k: SD[k] for k in ("identities", "objects", "characters", "styles", "resolution", "train")},
            },
            # the generator's subjects: a count of a kind is filled with that kind's concepts first (the demo
            # UNet must be able to draw each); a list is the whole cast, so adding a concept to the config
            # retrains nothing (sd_search checks that the concept is one of the cast)
            concepts=sd_train_concepts(),
        script:
            f"{SCRIPTS}/sd_train.py"

    rule sd_base_pipeline:
        # the demo's original pipeline as a diffusers folder: StableDiffusionPipeline.from_pretrained loads it
        input:
            unet=SD_MODEL_INPUTS["unet"],
            checkpoint=model_checkpoint(),
        output:
            directory(SD_BASE_PIPELINE),
        log:
            f"results/logs/sd/{MODEL}/sd_base_pipeline.log",
        benchmark:
            f"results/benchmarks/sd/{MODEL}/sd_base_pipeline.tsv"
        conda:
            CONDA_ENV
        resources:
            mem_mb=4000,
            runtime=10,
        params:
            # only what the export reads, so a search or evaluation setting does not rewrite the base
            model=model_params(),
            diffusion={k: SD[k] for k in ("model", "dtype")},
            seed=config["seed"],
        script:
            f"{SCRIPTS}/sd_base_pipeline.py"

else:

    rule sd_external_model:
        # Real Stable Diffusion weights are a licensed download: this rule only checks for them.
        output:
            f"{SD['pipeline_dir']}/model_index.json",
        log:
            "results/logs/sd/external_model.log",
        benchmark:
            "results/benchmarks/sd/external_model.tsv"
        localrule: True  # a check or a download: runs where Snakemake runs, not as a cluster job
        conda:
            CONDA_ENV
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            model=SD["model"],
            pipeline_dir=lambda wc, output: os.path.dirname(output[0]),
        script:
            f"{SCRIPTS}/sd_external_model.py"


rule sd_search:
    input:
        **SD_MODEL_INPUTS,
        layers=rules.rank_layers.output.table,
        forget=rules.forget_gradient.output[0],
        checkpoint=model_checkpoint(),
        clip_delta=[rules.unlearn.output.delta] if SD["edit"] == "clip" else [],
    output:
        trials="results/{concept}/sd/search.tsv",
        selection="results/{concept}/sd/selection.json",
        delta="results/{concept}/sd/delta.pt",
    log:
        "results/logs/{concept}/sd_search.log",
    benchmark:
        "results/benchmarks/{concept}/sd_search.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPU,
    params:
        **SD_PARAMS,
        concept=concept_info,
    script:
        f"{SCRIPTS}/sd_search.py"


rule sd_evaluate:
    input:
        **SD_MODEL_INPUTS,
        selection=rules.sd_search.output.selection,
        delta=rules.sd_search.output.delta,
        checkpoint=model_checkpoint(),
    output:
        metrics="results/{concept}/sd/sd_metrics.json",
        target_before=report(
            "results/{concept}/sd/target_before.png",
            caption="captions/sd_grid.rst",
            category="Stable Diffusion",
            subcategory="{concept}",
            labels={"concept": "{concept}", "figure": "target before"},
        ),
        target_after=report(
            "results/{concept}/sd/target_after.png",
            caption="captions/sd_grid.rst",
            category="Stable Diffusion",
            subcategory="{concept}",
            labels={"concept": "{concept}", "figure": "target after"},
        ),
        retain_before=report(
            "results/{concept}/sd/retain_before.png",
            caption="captions/sd_grid.rst",
            category="Stable Diffusion",
            subcategory="{concept}",
            labels={"concept": "{concept}", "figure": "retain before"},
        ),
        retain_after=report(
            "results/{concept}/sd/retain_after.png",
            caption="captions/sd_grid.rst",
            category="Stable Diffusion",
            subcategory="{concept}",
            labels={"concept": "{concept}", "figure": "retain after"},
        ),
    log:
        "results/logs/{concept}/sd_evaluate.log",
    benchmark:
        "results/benchmarks/{concept}/sd_evaluate.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
        gpu=GPU,
    params:
        **SD_PARAMS,
        concept=concept_info,
    script:
        f"{SCRIPTS}/sd_evaluate.py"


rule sd_export:
    # What a diffusers user loads: the unlearned text encoder (config.json + model.safetensors) for
    # StableDiffusionPipeline.from_pretrained(base, text_encoder=CLIPTextModel.from_pretrained(...)), the
    # edit as a delta file in the encoder's names, and the model card.
    input:
        unet=[SD_MODEL_INPUTS["unet"]] if SD_DEMO else [],
        base=SD_BASE_PIPELINE if SD_DEMO else SD_MODEL_INPUTS["pipeline"],
        selection=rules.sd_search.output.selection,
        delta=rules.sd_search.output.delta,
        metrics=rules.sd_evaluate.output.metrics,
        forget_stats=rules.curate_forget_set.output.stats,
        checkpoint=model_checkpoint(),
    output:
        text_encoder=directory("results/{concept}/sd/unlearned/text_encoder"),
        delta="results/{concept}/sd/unlearned/delta.safetensors",
        card="results/{concept}/sd/unlearned/README.md",
    log:
        "results/logs/{concept}/sd_export.log",
    benchmark:
        "results/benchmarks/{concept}/sd_export.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        **SD_PARAMS,
        base_pipeline=lambda wc, input: input.base if SD_DEMO else os.path.dirname(input.base),
        report=lambda wc: f"results/{wc.concept}/report.html",
        demo=SD_DEMO,
    script:
        f"{SCRIPTS}/sd_export.py"
