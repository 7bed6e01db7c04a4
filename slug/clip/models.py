"""Building, loading and saving open_clip models (the demo CLIP is one more registered config)."""

from __future__ import annotations

import logging
import os
import platform
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from slug.config import MODEL_CONFIG_DIR, is_local_checkpoint
from slug.io import atomic_torch_save, load_tensor_dict

_registered = False


def register_configs() -> None:
    """Register the model configs shipped in ``slug/model_configs`` with open_clip (idempotent)."""
    global _registered
    if not _registered:
        import open_clip

        open_clip.add_model_config(MODEL_CONFIG_DIR)
        _registered = True


@dataclass
class ClipBundle:
    """A model with its preprocessing and tokenizer, as open_clip's factory returns them."""

    model: torch.nn.Module
    preprocess_train: Callable
    preprocess_val: Callable
    tokenizer: Callable
    arch: str


def pick_device(requested: str = "auto") -> torch.device:
    """The torch device a rule computes on (config ``device``); the choice is logged with its reason.

    ``auto``: the first GPU of ``CUDA_VISIBLE_DEVICES`` when CUDA works (SLURM sets the variable for
    a job that requested a GPU; Snakemake does not set it per job, so local runs set it themselves),
    else the CPU, with a warning that says why. ``cpu``: the CPU. ``cuda``/``cuda:N``: that GPU, or
    an error naming the config value and the fix when it is not there.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = f"host {platform.node()}" + (f", SLURM job {os.environ['SLURM_JOB_ID']}"
                                         if os.environ.get("SLURM_JOB_ID") else "")
    shown = "unset" if visible is None else repr(visible)
    if requested == "cpu":
        device, why = torch.device("cpu"), "config device: cpu"
    elif requested == "auto":
        if torch.cuda.is_available():
            device = torch.device("cuda")
            why = f"device: auto, the first of {torch.cuda.device_count()} visible GPU(s), CUDA_VISIBLE_DEVICES {shown}"
        else:
            if visible is not None and visible.strip() in ("", "-1"):
                reason = f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
            elif visible:
                reason = (f"CUDA_VISIBLE_DEVICES={visible!r} but CUDA is unavailable "
                          f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'})")
            else:
                reason = "no CUDA GPU found"
            warnings.warn(f"device: auto on {where}: {reason}; computing on the CPU (slow for real models)",
                          stacklevel=2)
            device, why = torch.device("cpu"), f"device: auto, CPU fallback: {reason}"
    else:
        if not re.fullmatch(r"cuda(:\d+)?", str(requested)):
            raise ValueError(f"config device: {requested!r} is not one of auto, cpu, cuda, cuda:N")
        device = torch.device(requested)
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"config device: {requested!r}, but CUDA is not available on {where} "
                f"(CUDA_VISIBLE_DEVICES {shown}): set device: auto to fall back to the CPU, or run where a "
                f"GPU is (on SLURM the GPU rules request one unless device is cpu)")
        if (device.index or 0) >= torch.cuda.device_count():
            raise RuntimeError(
                f"config device: {requested!r}, but only {torch.cuda.device_count()} GPU(s) are visible on "
                f"{where} (CUDA_VISIBLE_DEVICES {shown}): use device: auto or cuda:0 and choose the GPU "
                f"with CUDA_VISIBLE_DEVICES")
        why = f"config device: {requested}, CUDA_VISIBLE_DEVICES {shown}"
    what = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    logging.getLogger("slug").info("computing on %s (%s; %s; %s)", device, what, why, where)
    return device


def load_weights(arch: str, pretrained: str | None) -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU, for stages that need its tensors but not the model.

    A local checkpoint is read directly (``weights_only=True``) without building the model, which
    spares those rules the import of open_clip and its dependencies (several seconds per job). Its
    match with the architecture was checked by the stages before (gradients, search), which build the
    model. A tag or None goes through :func:`load_clip`.
    """
    if is_local_checkpoint(pretrained):
        return load_tensor_dict(pretrained)
    return {k: v.detach() for k, v in load_clip(arch, pretrained).model.state_dict().items()}


def check_architecture(arch: str) -> None:
    """Refuse, before anything is built or downloaded, an architecture open_clip does not know or
    SLUG cannot run: CoCa models (a captioning decoder on CLIP, trained with CoCaLoss) return a dict
    and have a third tower that neither gradient nor the evaluation accounts for."""
    import open_clip

    register_configs()
    if arch not in open_clip.list_models():
        raise ValueError(
            f"unknown model architecture {arch!r}: use one of open_clip.list_models() "
            f"(e.g. 'ViT-B-32-quickgelu') or add a JSON config to {MODEL_CONFIG_DIR}")
    if "multimodal_cfg" in (open_clip.get_model_config(arch) or {}):
        raise ValueError(f"model.arch {arch!r} is a CoCa model (image and text towers plus a captioning decoder); "
                         "slug-pipeline unlearns from dual-encoder CLIP and SigLIP models: choose one of those")


def load_clip(arch: str, pretrained: str | None = None, device: str | torch.device = "cpu",
              preprocess: dict | None = None) -> ClipBundle:
    """Create ``arch`` through open_clip with ``pretrained`` = None, a tag, or a checkpoint path.

    A local checkpoint is a plain state dict; it is loaded with ``weights_only=True`` and its
    keys and shapes are checked against the architecture, so a wrong file fails loudly; no base
    tower weights are downloaded for it (a Hugging Face text tower would be, then overwritten).
    ``preprocess`` (mean, std, interpolation, resize_mode) overrides the architecture's image
    preprocessing: that of the published weights the checkpoint came from (``fetch_pretrained``).
    """
    import open_clip

    check_architecture(arch)
    local = is_local_checkpoint(pretrained)
    logging.disable(logging.WARNING)  # open_clip warns "no pretrained weights" before we load ours
    try:
        pp = preprocess or {}
        model, pp_train, pp_val = open_clip.create_model_and_transforms(
            arch, pretrained=None if local else pretrained, device="cpu", image_mean=pp.get("mean"),
            image_std=pp.get("std"), image_interpolation=pp.get("interpolation"),
            image_resize_mode=pp.get("resize_mode"), **({"pretrained_text": False} if local else {}))
    finally:
        logging.disable(logging.NOTSET)
    if local:
        state = load_tensor_dict(pretrained)
        check_state_dict(model, state, str(pretrained))
        model.load_state_dict(state, strict=True)
    model = model.to(device)
    return ClipBundle(model, pp_train, pp_val, open_clip.get_tokenizer(arch), arch)


def source_preprocess(source: str | None) -> dict | None:
    """The image preprocessing recorded in ``fetch_pretrained``'s ``source.json`` (None without one),
    sequences as tuples, as open_clip's ``image_mean``/``image_std`` take them."""
    from slug.io import read_json

    preprocess = read_json(source).get("preprocess") if source else None
    if preprocess is not None and not isinstance(preprocess, dict):
        raise ValueError(f"{source} was written by an older fetch_pretrained (no preprocessing settings): "
                         "rerun it with --forcerun fetch_pretrained")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in preprocess.items()} if preprocess else None


def load_model(model: dict, device: str | torch.device = "cpu", pretrained: str | None = None) -> ClipBundle:
    """The workflow's model from its rule params (``{"arch", "pretrained", "source"}``; ``source`` is the
    ``source.json`` of ``fetch_pretrained``, whose preprocessing is applied), or ``pretrained``
    instead of the params' checkpoint (an unlearned one) with the same architecture and preprocessing."""
    return load_clip(model["arch"], pretrained or model["pretrained"], device, source_preprocess(model.get("source")))


def contrastive_loss(model: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The image-text loss ``model`` was pretrained with, as ``loss(images, tokens)`` on ``model``.

    open_clip's ``SigLipLoss`` (pairwise sigmoid, with the model's ``logit_bias``) for SigLIP-style
    models, which carry a logit bias; ``ClipLoss`` (symmetric InfoNCE over the batch) otherwise. The
    retain gradient, the baselines' retain passes and the demo's pretraining all use it.
    """
    from open_clip.loss import ClipLoss, SigLipLoss

    if getattr(model, "logit_bias", None) is not None:
        siglip = SigLipLoss()
        return lambda images, tokens: siglip(*model(images, tokens)[:4])  # features, scale, bias
    clip = ClipLoss()
    return lambda images, tokens: clip(*model(images, tokens)[:3])  # features, scale


def check_state_dict(model: torch.nn.Module, state: dict[str, Any], source: str) -> None:
    """Raise a readable error when ``state`` is not a state dict of ``model``."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{source}: not a state dict (a mapping of parameter names to tensors); "
                         "save one with torch.save(model.state_dict(), path)")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    bad = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items()
           if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or bad:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        if bad:
            parts.append("shape mismatches " + ", ".join(f"{k}: file {a} vs model {b}" for k, a, b in bad[:5]))
        raise ValueError(f"{source} does not match the model architecture: " + "; ".join(parts)
                         + ". Check that model.arch in the config names the architecture this checkpoint was trained with.")


def save_state_dict(model: torch.nn.Module | dict[str, torch.Tensor], path: str | Path) -> None:
    """Save a model's state dict (or a state dict) as a plain, contiguous CPU tensor dict that open_clip loads."""
    state = model if isinstance(model, dict) else model.state_dict()
    atomic_torch_save({k: v.detach().cpu().contiguous() for k, v in state.items()}, path)


def fetch_pretrained(arch: str, tag: str, cache_dir: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Download open_clip's published weights ``tag`` for ``arch`` (rule ``fetch_pretrained``).

    Returns the state dict and a description of the source: the tag's URL or hub id and its image
    preprocessing (mean, std, interpolation, resize mode), which ``load_model`` applies when a job
    loads the saved file. A tag trained with QuickGELU on an architecture without it (or the
    reverse) is refused before downloading, with the architecture to use: open_clip only warns, and
    every activation of the model would be wrong.
    """
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg, list_pretrained_tags_by_model
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    check_architecture(arch)
    cfg = get_pretrained_cfg(arch, tag)
    if not cfg:
        raise ValueError(f"model.pretrained {tag!r} is not a published open_clip tag of {arch!r} "
                         f"(its tags: {list_pretrained_tags_by_model(arch) or 'none'}); give one of them, "
                         "a checkpoint path, or 'train'")
    model_cfg = open_clip.get_model_config(arch) or {}
    if bool(cfg.get("quick_gelu", False)) != bool(model_cfg.get("quick_gelu", False)):
        other = arch[:-len("-quickgelu")] if arch.endswith("-quickgelu") else arch + "-quickgelu"
        raise ValueError(f"the weights {tag!r} were trained with quick_gelu={bool(cfg.get('quick_gelu'))}, "
                         f"but model.arch {arch!r} has quick_gelu={bool(model_cfg.get('quick_gelu'))}: "
                         f"set model.arch to {other!r}")
    preprocess = {k: v for k, v in merge_preprocess_dict(PreprocessCfg(), cfg).items()
                  if k in ("mean", "std", "interpolation", "resize_mode")}  # the tag's; every job applies them
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = open_clip.create_model(arch, pretrained=tag, cache_dir=cache_dir)
    except RuntimeError as e:
        raise RuntimeError(f"{e}\nrule fetch_pretrained runs where Snakemake runs (not as a cluster job): that machine "
                           "needs internet access, or open_clip's download cache filled beforehand "
                           "(model.cache_dir; where that is null, ~/.cache/clip for URLs and HF_HOME for the Hugging "
                           "Face hub)") from e
    source = {"arch": arch, "tag": tag, "url": cfg.get("url", ""), "hf_hub": cfg.get("hf_hub", ""),
              "preprocess": preprocess, "open_clip": getattr(open_clip, "__version__", "?")}
    return {k: v.detach() for k, v in model.state_dict().items()}, source
