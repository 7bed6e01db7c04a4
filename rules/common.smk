# Config validation, wildcard constraints and the small input functions shared by the rules.
import os
import re
import sys

sys.path.insert(0, workflow.basedir)
from slug.config import (  # noqa: E402
    CONCEPT_STAGES,
    SLUG_STAGES,
    bundled_arch_config,
    image_caps,
    is_local_checkpoint,
    validate_config,
)
from slug.concepts import CONCEPT_WILDCARD, RESERVED_IDS  # noqa: E402

_validated = validate_config(config)  # defaults filled, keys in canonical order
config.clear()
config.update(_validated)

MODEL = config["model"]["name"]
CONCEPTS = list(config["concepts"])
SHARDS_DIR = config["data"]["shards_dir"]
NUM_SHARDS = config["data"]["num_shards"]
CELEBA = config["data"]["celeba_dir"]
IMAGENET = config["data"]["imagenet_dir"]
SCRIPTS = "../workflow_scripts"
# One environment for all jobs under --use-conda, environment.yml (the venv's packages). The jobs import slug
# from this repository, which this file puts first on sys.path (Snakemake passes that path on to each job).
CONDA_ENV = "../environment.yml"
# Every model-running job asks for a GPU unless the config says cpu (profiles/slurm maps the resource).
GPU = int(config["device"] != "cpu")
WORLD_DIR = os.path.dirname(config["data"]["laion_parquet"])


wildcard_constraints:
    concept=CONCEPT_WILDCARD,  # snake_case, not one of results/' own folders
    model=re.escape(MODEL),
    shard=r"\d{5}",


def shard_path(i, ext="tar"):
    return f"{SHARDS_DIR}/{i:05d}.{ext}" if ext != "stats" else f"{SHARDS_DIR}/{i:05d}_stats.json"


def all_shards():
    return [shard_path(i) for i in range(NUM_SHARDS)]


def retain_shards():
    return [shard_path(i) for i in config["data"]["retain_shards"]]


def forget_shards():
    sel = config["data"]["forget_shards"]
    return all_shards() if sel == "all" else [shard_path(i) for i in sel]


def model_checkpoint():
    """The files the model loads from: a local checkpoint given in the config, else the output of rule
    pretrain ("train") or of fetch_pretrained (a published tag: the weights, then source.json with
    the tag's image preprocessing)."""
    pre = config["model"]["pretrained"]
    if is_local_checkpoint(pre):
        return [pre]
    if pre == "train":
        return [f"results/models/{MODEL}/checkpoint.pt"]
    return [f"results/models/{MODEL}/checkpoint.pt", f"results/models/{MODEL}/source.json"]


def arch_config():
    """The bundled open_clip config of model.arch (slug/model_configs/<arch>.json), if it is one of ours:
    an input of pretraining, so that editing the architecture retrains the model."""
    path = bundled_arch_config(config["model"]["arch"])
    return [str(path)] if path else []


def eval_caps(section):
    """The image caps of config[section] ('search' or 'evaluation') for slug.clip.evaluation.load_eval_set."""
    return image_caps(config[section])


def model_params():
    """What slug.clip.models.load_model takes: the architecture, the checkpoint and, for a tag, its source.json
    (and the tag itself, recorded in selection.json and the manifests as provenance)."""
    files = model_checkpoint()
    tag = {"source": files[1], "tag": config["model"]["pretrained"]} if len(files) > 1 else {}
    return {"arch": config["model"]["arch"], "pretrained": files[0], **tag}


#: The held-out sets' folders, as slug.clip.evaluation.load_eval_set takes them (characters and canvas: None when
#: the config has no such task).
EVAL_DIRS = {
    "celeba": CELEBA,
    "imagenet": IMAGENET,
    "characters": config["data"].get("characters_dir"),
    "canvas": config["data"].get("canvas_dir"),
}


def eval_data():
    extra = {k: EVAL_DIRS[k] for k in ("characters", "canvas") if EVAL_DIRS[k]}
    return {
        "celeba": f"{CELEBA}/list_identity_celeba.txt",
        "imagenet": f"{IMAGENET}/LOC_synset_mapping.txt",
        **extra,
    }


def concept_info(wildcards):
    from slug.concepts import concept_kind, concept_terms, display_name

    return {
        "name": display_name(wildcards.concept, config["concepts"]),
        "terms": concept_terms(wildcards.concept, config["concepts"]),
        "kind": concept_kind(wildcards.concept, config["concepts"]),
    }


def baseline_hparams(wildcards):
    """One baseline's hyperparameters: its own section over the shared ones (rules/baselines.smk)."""
    from slug.baselines import hparams

    return hparams(config["baselines"], wildcards.method)


# The concept kinds Stable Diffusion unlearns (each a recognition task of the generated images).
SD_KINDS = ("person", "object", "character", "style")


def sd_train_concepts():
    """The concepts the demo UNet must draw, {kind: [names]}, for each kind whose diffusion setting is a count
    (filled with the concepts first); a listed cast is the whole cast, so adding a concept retrains nothing."""
    from slug.concepts import concept_kind, display_name
    from slug.diffusion.subjects import SETTING

    out = {}
    for c in CONCEPTS:
        kind = concept_kind(c, config["concepts"])
        if kind in SD_KINDS and isinstance(config["diffusion"][SETTING[kind]], int):
            out.setdefault(kind, []).append(display_name(c, config["concepts"]))
    return out


def sd_report_inputs(wildcards):
    """The report's Stable Diffusion section inputs (none unless diffusion.enabled and the concept's kind
    is one SD unlearns), used by rules/report.smk (SD and SD_GRIDS: rules/diffusion.smk)."""
    from slug.concepts import concept_kind

    if not SD["enabled"] or concept_kind(wildcards.concept, config["concepts"]) not in SD_KINDS:
        return {}
    return {
        "sd_metrics": f"results/{wildcards.concept}/sd/sd_metrics.json",
        "sd_card": f"results/{wildcards.concept}/sd/unlearned/README.md",
        **{f"sd_{g}": f"results/{wildcards.concept}/sd/{g}.png" for g in SD_GRIDS},
    }


# The concept kinds the VLM names (a naming task each; styles are not asked about).
VLM_KINDS = ("person", "object", "character")


def vlm_report_inputs(wildcards):
    """The report's VLM section inputs (none unless vlm.enabled and the concept's kind is one the VLM names),
    used by rules/report.smk (VLM_DEMO: rules/vlm.smk)."""
    from slug.concepts import concept_kind

    if not config["vlm"]["enabled"] or concept_kind(wildcards.concept, config["concepts"]) not in VLM_KINDS:
        return {}
    c = wildcards.concept
    demo = config["vlm"]["model"] == "train"
    train = {"vlm_train": f"results/models/{MODEL}/vlm/train.json"} if demo else {}
    stages = [f"results/benchmarks/vlm/{MODEL}/vlm_train.tsv"] if demo else []
    stages += [f"results/benchmarks/{c}/vlm_{s}.tsv" for s in ("search", "evaluate")]
    return {
        "vlm_benchmarks": stages,
        "vlm_metrics": f"results/{c}/vlm/vlm_metrics.json",
        "vlm_selection": f"results/{c}/vlm/selection.json",
        "vlm_examples": f"results/{c}/vlm/examples.png",
        "vlm_delta": f"results/{c}/vlm/unlearned/delta.safetensors",
        **train,
    }
