# Joint unlearning of a named set of concepts (config `joint: {set_name: [concepts]}`): each concept's
# single-layer update, found on the original model, applied together; then every concept of the set
# and the retain metrics are evaluated.

from slug.concepts import concept_kind, display_name  # noqa: E402

JOINT = config["joint"]


wildcard_constraints:
    joint_set="|".join(map(re.escape, JOINT)) or "(?!)",


rule joint_unlearn_and_evaluate:
    input:
        unpack(lambda wc: eval_data()),
        deltas=lambda wc: expand(rules.unlearn.output.delta, concept=JOINT[wc.joint_set]),
        selections=lambda wc: expand(rules.search_step.output.selection, concept=JOINT[wc.joint_set]),
        checkpoint=model_checkpoint(),
    output:
        delta="results/joint/{joint_set}/delta.pt",
        checkpoint="results/joint/{joint_set}/checkpoint.pt",
        delta_safetensors="results/joint/{joint_set}/delta.safetensors",
        model_safetensors="results/joint/{joint_set}/model.safetensors",
        metrics="results/joint/{joint_set}/metrics.json",
        cosine="results/joint/{joint_set}/cosine_matrix.png",
        report=report(
            "results/joint/{joint_set}/report.html",
            caption="captions/joint.rst",
            category="Joint unlearning",
            subcategory="{joint_set}",
            labels={"joint set": "{joint_set}", "figure": "joint report"},
        ),
    log:
        "results/logs/joint/{joint_set}.log",
    benchmark:
        "results/benchmarks/joint/{joint_set}.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=30,
        gpu=GPU,
    params:
        concepts=lambda wc: JOINT[wc.joint_set],
        names=lambda wc: {c: display_name(c, config["concepts"]) for c in JOINT[wc.joint_set]},
        kinds=lambda wc: {c: concept_kind(c, config["concepts"]) for c in JOINT[wc.joint_set]},
        model=model_params(),
        criterion=config["search"]["criterion"],
        search_caps=eval_caps("search"),
        eval_caps=eval_caps("evaluation"),
        dirs=EVAL_DIRS,
        seed=config["seed"],
        device=config["device"],
    script:
        f"{SCRIPTS}/joint.py"
