"""The pipelines the rules use: the demo's pixel-space UNet and schedulers, or a local diffusers folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import torch

from slug.diffusion.subjects import Concepts, Subjects, require_concepts, resolve_subjects

log = logging.getLogger("slug")

# --------------------------------------------------------------------------------------------
# The demo model
# --------------------------------------------------------------------------------------------


def demo_unet(cross_attention_dim: int, sample_size: int = 32, channels: Sequence[int] = (32, 64, 64),
              attention_head_dim: int = 8):
    """A small pixel-space ``UNet2DConditionModel``; cross-attention at the lowest resolution only."""
    from diffusers import UNet2DConditionModel

    n = len(channels)
    return UNet2DConditionModel(
        sample_size=sample_size, in_channels=3, out_channels=3, layers_per_block=1,
        block_out_channels=tuple(channels), norm_num_groups=8,
        down_block_types=("DownBlock2D",) * (n - 1) + ("CrossAttnDownBlock2D",),
        up_block_types=("CrossAttnUpBlock2D",) + ("UpBlock2D",) * (n - 1),
        cross_attention_dim=cross_attention_dim, attention_head_dim=attention_head_dim,
    )


def train_scheduler(num_train_timesteps: int = 1000):
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="squaredcos_cap_v2",
                         prediction_type="epsilon", clip_sample=False)


def sample_scheduler(train_sched):
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(train_sched.config, set_alpha_to_one=True, steps_offset=1)


def placeholder_vae():
    """A one-block ``AutoencoderKL`` (never run): makes ``StableDiffusionPipeline`` work in pixel space."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=3, block_out_channels=(8,),
                         down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",),
                         norm_num_groups=8, layers_per_block=1)


def make_pipeline(unet, text_encoder, tokenizer, scheduler, vae=None):
    """A ``StableDiffusionPipeline`` from parts (no safety checker; ``vae=None`` = pixel space)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(vae=vae if vae is not None else placeholder_vae(), text_encoder=text_encoder,
                                   tokenizer=tokenizer, unet=unet, scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, image_encoder=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pixel_space(pipe) -> bool:
    return pipe.vae.config.latent_channels == pipe.unet.config.in_channels == 3 and pipe.vae_scale_factor == 1


# --------------------------------------------------------------------------------------------
# Candidate layers, subjects and pipelines as the rules build them
# --------------------------------------------------------------------------------------------


def sd_candidates(layers_df, max_layers: int, layers_run: int) -> list[str]:
    """Text-tower layers the pipeline runs, on their own Pareto front (importance, alignment),
    most important first; ``max_layers`` at most."""
    from slug.clip.hf import NOT_IN_TEXT_ENCODER, layer_index
    from slug.core.ranking import front_layers

    df = layers_df[(layers_df.tower == "text") & ~layers_df.layer.isin(NOT_IN_TEXT_ENCODER)].copy()
    df = df[[(layer_index(n) is None or layer_index(n) < layers_run) for n in df.layer]]
    if df.empty:
        raise ValueError("no text-tower layer the pipeline runs is among the ranked layers: rank the text tower "
                         "(search.towers must include text)")
    return front_layers(df, max_layers)


PIPELINE_PARTS = ("scheduler", "text_encoder", "tokenizer", "unet", "vae")


def check_pipeline_dir(pipeline_dir: str | Path, model: str) -> None:
    """A clear error for a partly downloaded diffusers folder (diffusers' own is obscure)."""
    root = Path(pipeline_dir)
    missing = [part for part in PIPELINE_PARTS if not (root / part).is_dir() or not any((root / part).iterdir())]
    if not (root / "model_index.json").is_file():
        missing.insert(0, "model_index.json")
    if missing:
        raise FileNotFoundError(
            f"the diffusers pipeline in {root}/ is incomplete: missing or empty {', '.join(missing)}. Download it "
            f"again: huggingface-cli download {model} --local-dir {root} --include 'model_index.json' "
            + " ".join(f"'{part}/*'" for part in PIPELINE_PARTS))


def load_pipeline(cfg: dict, bundle, unet_dir: str | None, device, context_length: int | None = None):
    """The pipeline the rules use: the demo UNet + the demo CLIP's converted text tower, or a local
    diffusers folder (``diffusion.pipeline_dir``). The scheduler is DDIM either way."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    from slug.clip.hf import clip_tokenizer, convert_text_tower

    dtype = torch.float16 if cfg["dtype"] == "float16" else torch.float32
    if cfg["model"] == "train":
        unet = UNet2DConditionModel.from_pretrained(unet_dir)
        ctx = context_length or int(bundle.model.positional_embedding.shape[0])
        pipe = make_pipeline(unet, convert_text_tower(bundle.model), clip_tokenizer(ctx),
                             sample_scheduler(train_scheduler()))
    else:
        check_pipeline_dir(cfg["pipeline_dir"], cfg["model"])
        pipe = StableDiffusionPipeline.from_pretrained(cfg["pipeline_dir"], local_files_only=True, torch_dtype=dtype,
                                                       safety_checker=None, requires_safety_checker=False)
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
    return pipe.to(device, dtype) if dtype != torch.float32 else pipe.to(device)


def subjects_and_pipeline(cfg: dict, bundle, concepts: Concepts | Sequence[str], info: dict | None,
                          unet_dir: str | None, device) -> tuple[Subjects, object]:
    """What the SD rules share: the generator's subjects (from the trained UNet's info, else the
    config) and the pipeline. ``concepts``: ``{kind: [names]}`` (a plain list: people)."""
    subjects = (require_concepts(Subjects.from_record(info), concepts) if info
                else resolve_subjects(cfg, concepts, None))
    return subjects, load_pipeline(cfg, bundle, unet_dir, device)


def sd_size(pipe) -> int:
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)



def open_sd(model: dict, cfg: dict, target: str, info_path: str | None, unet_dir: str | None, device,
            kind: str = "person"):
    """What the SD search and evaluation jobs start from: the gradient CLIP (eval mode), the demo UNet's
    training record (``None`` for a real pipeline), the generator's subjects and the pipeline."""
    from slug.io import read_json
    from slug.clip.models import load_model

    bundle = load_model(model, device)
    bundle.model.eval()
    info = read_json(info_path) if info_path else None
    subjects, pipe = subjects_and_pipeline(cfg, bundle, {kind: [target]}, info, unet_dir, device)
    return bundle, info, subjects, pipe
