# Vision-language model unlearning through the CLIP vision tower (vlm.enabled): the concept's SLUG edit of
# one vision layer, carried into a transformers LlavaForConditionalGeneration, judged by its answers.
#   demo: build a small LLaVA from the demo CLIP's tower and train it on the demo world (tower frozen);
#   paper (configs/paper-llava15.yaml): a local copy of llava-hf/llava-1.5-7b-hf.
VLM = config["vlm"]
VLM_DEMO = VLM["model"] == "train"
VLM_DIR = f"results/models/{MODEL}/vlm/llava" if VLM_DEMO else VLM["model_dir"]
VLM_INPUT = VLM_DIR if VLM_DEMO else f"{VLM_DIR}/config.json"
VLM_PARAMS = {
    "vlm": VLM,
    "model": model_params(),
    "dirs": EVAL_DIRS,
    "seed": config["seed"],
    "device": config["device"],
}
if VLM_DEMO:

    rule vlm_train:
        # the demo VLM: the demo CLIP's vision tower (frozen), a projector and a small Llama, trained on
        # freshly drawn images of every identity, character and object in LLaVA's conversation form
        input:
            identities=os.path.join(WORLD_DIR, "identities.json"),
            characters=os.path.join(WORLD_DIR, "characters.json"),
            checkpoint=model_checkpoint(),
        output:
            vlm=directory("results/models/{model}/vlm/llava"),
            loss="results/models/{model}/vlm/train_loss.tsv",
            info="results/models/{model}/vlm/train.json",
        log:
            "results/logs/vlm/{model}/vlm_train.log",
        benchmark:
            "results/benchmarks/vlm/{model}/vlm_train.tsv"
        conda:
            CONDA_ENV
        threads: 2
        resources:
            mem_mb=4000,
            runtime=30,
            gpu=GPU,
        params:
            # only what training reads, so a search or evaluation setting does not retrain the VLM
            **{**VLM_PARAMS, "vlm": {k: VLM[k] for k in ("model", "train")}},
            image_size=config.get("world", {}).get("image_size", 64),
        script:
            f"{SCRIPTS}/vlm_train.py"

else:

    rule vlm_external_model:
        # Real LLaVA weights are a download this machine may not make: this rule only checks for them.
        output:
            VLM_INPUT,
        log:
            "results/logs/vlm/external_model.log",
        benchmark:
            "results/benchmarks/vlm/external_model.tsv"
        localrule: True
        conda:
            CONDA_ENV
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            model=VLM["model"],
            model_dir=lambda wc, output: os.path.dirname(output[0]),
        script:
            f"{SCRIPTS}/vlm_external_model.py"


# what a real 7B LLaVA needs in fp16 (~14 GB of weights), or the demo's
VLM_MEM = 8000 if VLM_DEMO else 24000


rule vlm_search:
    input:
        unpack(lambda wc: eval_data()),
        vlm=VLM_INPUT,
        layers=rules.rank_layers.output.table,
        forget=rules.forget_gradient.output[0],
        checkpoint=model_checkpoint(),
    output:
        trials="results/{concept}/vlm/search.tsv",
        selection="results/{concept}/vlm/selection.json",
        delta="results/{concept}/vlm/delta.pt",
    log:
        "results/logs/{concept}/vlm_search.log",
    benchmark:
        "results/benchmarks/{concept}/vlm_search.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=VLM_MEM,
        runtime=60,
        gpu=GPU,
    params:
        # an evaluation setting does not rerun the search
        **{**VLM_PARAMS, "vlm": {k: v for k, v in VLM.items() if k != "eval"}},
        vlm_dir=lambda wc, input: input.vlm if VLM_DEMO else os.path.dirname(input.vlm),
        concept=concept_info,
    script:
        f"{SCRIPTS}/vlm_search.py"


rule vlm_evaluate:
    input:
        unpack(lambda wc: eval_data()),
        vlm=VLM_INPUT,
        selection=rules.vlm_search.output.selection,
        delta=rules.vlm_search.output.delta,
        checkpoint=model_checkpoint(),
        # the demo world's tables: images drawn at evaluation time (fresh, a stream of their own)
        world=[os.path.join(WORLD_DIR, f) for f in ("identities.json", "characters.json")] if VLM_DEMO else [],
    output:
        metrics="results/{concept}/vlm/vlm_metrics.json",
        examples="results/{concept}/vlm/examples.tsv",
        figure=report(
            "results/{concept}/vlm/examples.png",
            caption="captions/vlm_examples.rst",
            category="Vision-language model",
            subcategory="{concept}",
            labels={"concept": "{concept}", "figure": "VLM answers before/after"},
        ),
    log:
        "results/logs/{concept}/vlm_evaluate.log",
    benchmark:
        "results/benchmarks/{concept}/vlm_evaluate.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=VLM_MEM,
        runtime=60,
        gpu=GPU,
    params:
        **VLM_PARAMS,
        vlm_dir=lambda wc, input: input.vlm if VLM_DEMO else os.path.dirname(input.vlm),
        concept=concept_info,
        image_size=config.get("world", {}).get("image_size", 64),
    script:
        f"{SCRIPTS}/vlm_evaluate.py"


rule vlm_export:
    # the edit in the LLaVA's own parameter names with its base's checksum: `slug apply` writes the edited LLaVA
    input:
        vlm=VLM_INPUT,
        selection=rules.vlm_search.output.selection,
        delta=rules.vlm_search.output.delta,
    output:
        delta="results/{concept}/vlm/unlearned/delta.safetensors",
    log:
        "results/logs/{concept}/vlm_export.log",
    benchmark:
        "results/benchmarks/{concept}/vlm_export.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=VLM_MEM,
        runtime=10,
    params:
        vlm={k: VLM[k] for k in ("model", "dtype")},
        model=model_params(),
        seed=config["seed"],
        vlm_dir=lambda wc, input: input.vlm if VLM_DEMO else os.path.dirname(input.vlm),
    script:
        f"{SCRIPTS}/vlm_export.py"
