# The unlearned model: the single-layer delta (small) and a full checkpoint open_clip loads, each also as
# safetensors, and its model card.


rule unlearn:
    input:
        selection=rules.search_step.output.selection,
        forget=rules.forget_gradient.output[0],
        checkpoint=model_checkpoint(),
    output:
        delta="results/{concept}/unlearned/delta.pt",
        checkpoint="results/{concept}/unlearned/checkpoint.pt",
        delta_safetensors="results/{concept}/unlearned/delta.safetensors",
        model_safetensors="results/{concept}/unlearned/model.safetensors",
        manifest="results/{concept}/unlearned/manifest.json",
    log:
        "results/logs/{concept}/unlearn.log",
    benchmark:
        "results/benchmarks/{concept}/unlearn.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        model=model_params(),
    script:
        f"{SCRIPTS}/unlearn.py"
