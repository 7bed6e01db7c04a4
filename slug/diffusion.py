"""Stable Diffusion unlearning through the CLIP text encoder (SLUG, section 7 of the reference).

The text-to-image model is a diffusers ``StableDiffusionPipeline`` whose ``text_encoder`` is a
Hugging Face ``CLIPTextModel``; the SLUG edit is computed on the open_clip model and carried into
that encoder by :mod:`slug.hf_clip` (one code path for the demo and for SD 1.5 / 2.1).

The demo's model is small and runs in *pixel space*: a diffusers ``UNet2DConditionModel`` (32x32x3)
trained with a ``DDPMScheduler`` on images rendered by the demo world, conditioned on the demo
CLIP's text hidden states (frozen, as in SD), sampled with ``DDIMScheduler`` and classifier-free
guidance by ``StableDiffusionPipeline`` itself. Pixel space means there is no autoencoder: the
pipeline is called with ``output_type="latent"`` and its "latents" are the images; the VAE it
requires is a fixed placeholder whose only role is ``vae_scale_factor = 1`` (it is never run).

Generation evaluation: the demo CLIP (the *original*, unedited model) classifies each generated
image zero-shot among the generator's identities (person prompts) or objects (object prompts);
the recognition rate of a prompt set is the fraction classified as the prompted subject.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from slug.budget import TimeBudget

log = logging.getLogger("slug")

#: Evaluation prompt templates, drawn from the demo world's own caption styles.
PERSON_PROMPTS: tuple[str, ...] = ("photo of {}", "portrait of {}", "{} headshot", "close-up of {}")
OBJECT_PROMPTS: tuple[str, ...] = ("a {}", "a drawing of a {}")


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
# Demo training data: the demo world's renderers
# --------------------------------------------------------------------------------------------


@dataclass
class Subjects:
    """The generator's vocabulary: identities (the concepts first) and object classes."""

    identities: list[str]
    objects: list[str]

    @property
    def chance_identity(self) -> float:
        return 1.0 / len(self.identities)

    @property
    def chance_object(self) -> float:
        return 1.0 / len(self.objects)


def choose_subjects(all_identities: Sequence[str], targets: Sequence[str], n_identities: int,
                    all_objects: Sequence[str], n_objects: int) -> Subjects:
    missing = [t for t in targets if t not in all_identities]
    if missing:
        raise ValueError(f"concept(s) {missing} are not identities of the demo world "
                         f"({len(all_identities)} names, e.g. {list(all_identities)[:3]}): check the concepts table")
    ids = list(dict.fromkeys([*targets, *all_identities]))[:max(n_identities, len(targets))]
    return Subjects(ids, list(all_objects)[:n_objects])


def render_training_set(world_identities: list, subjects: Subjects, n: int, size: int, seed: int,
                        person_fraction: float = 0.6):
    """``n`` (image uint8 [n,3,size,size], caption) pairs drawn by the world's renderers and captioned
    with the world's named person / object captions (every image its own seeded generator)."""
    from slug.world import OBJECT_CLASSES, draw_object, draw_person, object_caption, person_caption

    by_name = {i.name: i for i in world_identities}
    wnid = {name: w for w, (name, _) in OBJECT_CLASSES.items()}
    imgs = np.empty((n, size, size, 3), np.uint8)
    caps, labels = [], []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 77, i]))
        if rng.random() < person_fraction:
            ident = by_name[subjects.identities[int(rng.integers(len(subjects.identities)))]]
            img, cap, lab = draw_person(ident, rng, size), person_caption(ident, rng, 1.0), ident.name
        else:
            obj = subjects.objects[int(rng.integers(len(subjects.objects)))]
            img, cap, lab = draw_object(wnid[obj], rng, size), object_caption(obj, rng), obj
        imgs[i] = np.asarray(img.convert("RGB"))
        caps.append(cap)
        labels.append(lab)
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), caps, labels


@torch.no_grad()
def encode_prompts(text_encoder, tokenizer, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """Text hidden states as ``StableDiffusionPipeline.encode_prompt`` computes them (no clip_skip)."""
    out = []
    dev = next(text_encoder.parameters()).device
    for i in range(0, len(prompts), batch_size):
        ids = tokenizer(list(prompts[i:i + batch_size]), padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids
        out.append(text_encoder(ids.to(dev))[0].cpu())
    return torch.cat(out)


def train_demo_unet(unet, text_encoder, tokenizer, images: torch.Tensor, captions: Sequence[str], *, steps: int,
                    batch_size: int = 32, lr: float = 1e-3, cond_dropout: float = 0.1, seed: int = 0,
                    budget: TimeBudget | None = None, progress: bool = True) -> list[dict]:
    """DDPM training (epsilon prediction, MSE) with classifier-free-guidance caption dropout.

    The text encoder is frozen, so each distinct caption is encoded once. Trains on the UNet's device;
    the random draws stay on the CPU, so a seed gives the same batches on any device. Trains exactly
    ``steps`` steps; ``budget`` (a :class:`slug.budget.TimeBudget`) only guards: reaching it raises
    ``TimeBudgetExceeded``, or ends a run the user marked time-limited early (``budget.stopped_at``).
    Returns the loss log.
    """
    from tqdm.auto import tqdm

    sched = train_scheduler()
    uniq = sorted(set(captions))
    index = {c: i for i, c in enumerate(uniq)}
    device = next(unet.parameters()).device
    cond = encode_prompts(text_encoder, tokenizer, uniq + [""]).to(device)
    cap_idx = torch.tensor([index[c] for c in captions])
    empty = len(uniq)
    x0_all = images.float() / 127.5 - 1.0
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    warm = min(100, steps // 10)
    sch = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warm))
                                            * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    unet.train()
    logs, t0, ema = [], time.time(), None
    bar = tqdm(range(steps), desc="train UNet", disable=not progress, mininterval=5)
    for step in bar:
        idx = torch.randint(len(x0_all), (batch_size,), generator=g)
        x0 = x0_all[idx].to(device)
        if torch.rand(1, generator=g).item() < 0.5:
            x0 = x0.flip(-1)  # horizontal flip; the world's people and icons are near-symmetric
        c = cap_idx[idx].clone()
        c[torch.rand(batch_size, generator=g) < cond_dropout] = empty
        noise = torch.randn(x0.shape, generator=g).to(device)
        t = torch.randint(sched.config.num_train_timesteps, (batch_size,), generator=g).to(device)
        xt = sched.add_noise(x0, noise, t)
        pred = unet(xt, t, encoder_hidden_states=cond[c.to(device)]).sample
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        sch.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        elapsed = time.time() - t0
        if step % 25 == 0 or step == steps - 1:
            logs.append({"step": step, "loss": loss.item(), "loss_ema": float(ema), "seconds": elapsed})
            bar.set_postfix(loss=f"{ema:.4f}")
        if budget is not None and budget.reached(step + 1):
            log.warning("time-limited UNet training stopped by its budget (%.1f min) at step %d of %d",
                        budget.minutes, step + 1, steps)
            logs.append({"step": step, "loss": loss.item(), "loss_ema": float(ema), "seconds": elapsed})
            break
    unet.eval()
    return logs


# --------------------------------------------------------------------------------------------
# Generation with fixed noise, and its evaluation by the (original) CLIP
# --------------------------------------------------------------------------------------------


def fixed_noise(pipe, n: int, seed: int, height: int | None = None) -> torch.Tensor:
    """The initial noise of ``n`` images, from ``seed`` only (the same before and after an edit)."""
    size = (height or sd_size(pipe)) // pipe.vae_scale_factor
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, pipe.unet.config.in_channels, size, size), generator=g)


@torch.no_grad()
def generate(pipe, prompts: Sequence[str], noise: torch.Tensor, steps: int = 25, guidance: float = 3.0,
             batch_size: int = 64, clip_skip: int | None = None) -> torch.Tensor:
    """Images in [0, 1], [N, 3, H, W] (one prompt per noise row), through ``StableDiffusionPipeline``."""
    if len(prompts) != len(noise):
        raise ValueError(f"{len(prompts)} prompts for {len(noise)} noise tensors")
    out = []
    dev = pipe.unet.device
    pixel = pixel_space(pipe)
    for i in range(0, len(prompts), batch_size):
        lat = noise[i:i + batch_size].to(dev, pipe.unet.dtype)
        res = pipe(list(prompts[i:i + batch_size]), num_inference_steps=steps, guidance_scale=guidance,
                   latents=lat, output_type="latent" if pixel else "pt", clip_skip=clip_skip,
                   height=lat.shape[-1] * pipe.vae_scale_factor, width=lat.shape[-1] * pipe.vae_scale_factor)
        img = res.images
        out.append(((img.float() + 1) / 2).clamp(0, 1).cpu() if pixel else img.float().cpu())
    return torch.cat(out)


@dataclass
class PromptSet:
    """Prompts with the subject each one shows (``kind``: target / identity / object)."""

    prompts: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def add(self, subject: str, kind: str, templates: Sequence[str], per_subject: int) -> None:
        for j in range(per_subject):
            self.prompts.append(templates[j % len(templates)].format(subject))
            self.subjects.append(subject)
            self.kinds.append(kind)

    def __len__(self) -> int:
        return len(self.prompts)


def evaluation_prompts(subjects: Subjects, target: str, n_target: int, n_identity: int, n_object: int) -> PromptSet:
    ps = PromptSet()
    ps.add(target, "target", PERSON_PROMPTS, n_target)
    for name in subjects.identities:
        if name != target:
            ps.add(name, "identity", PERSON_PROMPTS, n_identity)
    for obj in subjects.objects:
        ps.add(obj, "object", OBJECT_PROMPTS, n_object)
    return ps


class Recogniser:
    """Zero-shot classification of generated images by a CLIP (the reference's templates)."""

    def __init__(self, bundle, subjects: Subjects):
        from slug.zeroshot import IDENTITY_TEMPLATES, OBJECT_TEMPLATES, build_classifier, classifier_tokens

        self.bundle, self.subjects = bundle, subjects
        m = bundle.model.eval()
        self.id_clf = build_classifier(m, classifier_tokens(bundle.tokenizer, subjects.identities, IDENTITY_TEMPLATES),
                                       len(IDENTITY_TEMPLATES))
        self.obj_clf = build_classifier(m, classifier_tokens(bundle.tokenizer, subjects.objects, OBJECT_TEMPLATES),
                                        len(OBJECT_TEMPLATES))
        size = m.visual.image_size
        self.size = size[0] if isinstance(size, (tuple, list)) else int(size)
        norm = [t for t in bundle.preprocess_val.transforms if type(t).__name__ == "Normalize"]
        self.mean = torch.tensor(norm[0].mean).view(1, 3, 1, 1) if norm else torch.zeros(1, 3, 1, 1)
        self.std = torch.tensor(norm[0].std).view(1, 3, 1, 1) if norm else torch.ones(1, 3, 1, 1)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, kinds: Sequence[str]) -> list[str]:
        """The predicted subject name of each image in [0, 1] (identity or object, by ``kinds``)."""
        from slug.zeroshot import encode_images

        x = F.interpolate(images.float(), size=(self.size, self.size), mode="bicubic", align_corners=False).clamp(0, 1)
        feats = encode_images(self.bundle.model, (x - self.mean) / self.std)
        id_pred = (feats @ self.id_clf.T).argmax(1)
        obj_pred = (feats @ self.obj_clf.T).argmax(1)
        return [self.subjects.objects[int(o)] if k == "object" else self.subjects.identities[int(i)]
                for i, o, k in zip(id_pred, obj_pred, kinds)]


def recognition_metrics(ps: PromptSet, predictions: Sequence[str], subjects: Subjects) -> dict:
    """Recognition rates: the target's, each other identity's and object's, and their means.

    Keys mirror the CLIP search's metrics so :mod:`slug.search` can run on them:
    ``forget_top1`` = target rate, ``retain_id_top1`` = mean rate of the other identities,
    ``objects_top1`` = mean rate of the objects.
    """
    hit = np.array([p == s for p, s in zip(predictions, ps.subjects)], float)
    kinds = np.array(ps.kinds)
    subj = np.array(ps.subjects)
    per = {s: float(hit[subj == s].mean()) for s in dict.fromkeys(ps.subjects)}
    ids = [s for s in dict.fromkeys(ps.subjects) if ps.kinds[ps.subjects.index(s)] == "identity"]
    objs = [s for s in dict.fromkeys(ps.subjects) if ps.kinds[ps.subjects.index(s)] == "object"]
    target = float(hit[kinds == "target"].mean())
    return {
        "forget_top1": target,
        "forget_top5": target,  # one recognition rate: the search's top-5 criterion means the same here
        "retain_id_top1": float(np.mean([per[s] for s in ids])) if ids else float("nan"),
        "objects_top1": float(np.mean([per[s] for s in objs])) if objs else float("nan"),
        "chance_identity": subjects.chance_identity, "chance_object": subjects.chance_object,
        "per_subject": per,
    }


class GenerationEvaluator:
    """``evaluate({open_clip name: delta})`` -> recognition metrics of images generated with the edit.

    The same prompts and the same initial noise every call; the pipeline's text encoder is
    restored after each evaluation.
    """

    def __init__(self, pipe, recogniser: Recogniser, ps: PromptSet, seed: int, steps: int, guidance: float,
                 clip_skip: int | None = None):
        self.pipe, self.rec, self.ps = pipe, recogniser, ps
        self.noise = fixed_noise(pipe, len(ps), seed)
        self.steps, self.guidance, self.clip_skip = steps, guidance, clip_skip

    def evaluate(self, edits: dict[str, torch.Tensor], forget_only: bool = False) -> dict:
        """Every metric of one generation pass (``forget_only`` changes nothing: the target's prompts and
        the others' are generated together)."""
        from slug.hf_clip import apply_text_edit, restore

        originals = apply_text_edit(self.pipe, edits, self.clip_skip) if edits else {}
        try:
            imgs = generate(self.pipe, self.ps.prompts, self.noise, self.steps, self.guidance, clip_skip=self.clip_skip)
        finally:
            restore(self.pipe, originals)
        m = recognition_metrics(self.ps, self.rec.predict(imgs, self.ps.kinds), self.rec.subjects)
        return m

    def baseline(self) -> dict:
        return self.evaluate({})


def grid(images: torch.Tensor, nrow: int) -> np.ndarray:
    """An HxWx3 uint8 image grid."""
    from torchvision.utils import make_grid

    g = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    return (g.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def save_grid_png(images: torch.Tensor, path: str | Path, nrow: int = 8, scale: int = 3) -> None:
    """Write ``images`` (N x 3 x H x W in [0, 1]) as one PNG grid, enlarged ``scale`` times (nearest
    neighbour, so the generated pixels stay visible), atomically."""
    from PIL import Image

    from slug.io import atomic_path

    g = Image.fromarray(grid(images, nrow=nrow))
    with atomic_path(path) as tmp:
        g.resize((g.width * scale, g.height * scale), Image.NEAREST).save(tmp, format="PNG")


def grid_indices(ps: PromptSet, n_target: int = 16) -> dict[str, list[int]]:
    """Which generated images the before/after grids show: the first ``n_target`` of the target, and
    the first image of every other subject (``retain``), in prompt order."""
    first: dict[str, int] = {}
    for i, (subject, kind) in enumerate(zip(ps.subjects, ps.kinds)):
        if kind != "target":
            first.setdefault(subject, i)
    return {"target": [i for i, k in enumerate(ps.kinds) if k == "target"][:n_target], "retain": list(first.values())}


def recognition_checks(before: dict, after: dict, chance: float) -> dict[str, bool]:
    """The generation targets, from ``recognition_metrics`` before and after the edit: the target was
    recognised above chance + 5 pt before and is within 5 pt of chance after; the other identities' and
    the objects' recognition rates each moved by at most 10 pt."""
    return {
        "target_before_above_chance": before["forget_top1"] > chance + 0.05,
        "target_after_within_5pt_of_chance": after["forget_top1"] <= chance + 0.05,
        "identities_within_10pt": abs(after["retain_id_top1"] - before["retain_id_top1"]) <= 0.10,
        "objects_within_10pt": abs(after["objects_top1"] - before["objects_top1"]) <= 0.10,
    }


# --------------------------------------------------------------------------------------------
# Candidate layers, subjects and pipelines as the rules build them
# --------------------------------------------------------------------------------------------


def sd_candidates(layers_df, max_layers: int, layers_run: int) -> list[str]:
    """Text-tower layers the pipeline runs, on their own Pareto front (importance, alignment),
    most important first; ``max_layers`` at most."""
    from slug.hf_clip import NOT_IN_TEXT_ENCODER, layer_index
    from slug.ranking import pareto_front

    df = layers_df[(layers_df.tower == "text") & ~layers_df.layer.isin(NOT_IN_TEXT_ENCODER)].copy()
    df = df[[(layer_index(n) is None or layer_index(n) < layers_run) for n in df.layer]]
    if df.empty:
        raise ValueError("no text-tower layer the pipeline runs is among the ranked layers: rank the text tower "
                         "(search.towers must include text)")
    df["front"] = pareto_front(df.importance.to_numpy(), df.alignment.to_numpy())
    return list(df[df.front].sort_values("importance", ascending=False).layer[:max_layers])


def resolve_subjects(cfg: dict, concept_names: Sequence[str], world_identities: Sequence[str] | None) -> Subjects:
    """The generator's identities/objects from ``diffusion.identities``/``objects`` (lists, or counts of the
    demo world's subjects with the concepts first)."""
    from slug.world import OBJECT_CLASSES

    ids, objs = cfg["identities"], cfg["objects"]
    if isinstance(ids, int) or isinstance(objs, int):
        if world_identities is None:
            raise ValueError("diffusion.identities / diffusion.objects given as counts need the demo world; "
                             "for real models list the names (e.g. diffusion.identities: [Elon Musk, ...])")
    world_objs = [v[0] for v in OBJECT_CLASSES.values()]
    if isinstance(ids, int):
        s = choose_subjects(list(world_identities), list(concept_names), ids, world_objs, 1)
        ids = s.identities
    if isinstance(objs, int):
        objs = world_objs[:objs]
    missing = [c for c in concept_names if c not in ids]
    if missing:
        raise ValueError(f"concept(s) {missing} missing from diffusion.identities {list(ids)}: every concept must be "
                         "one of the generator's identities (its recognition rate is measured among them)")
    return Subjects(list(ids), list(objs))


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

    from slug.hf_clip import clip_tokenizer, convert_text_tower

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


def subjects_and_pipeline(cfg: dict, bundle, concept_names: Sequence[str], info: dict | None,
                          unet_dir: str | None, device) -> tuple[Subjects, object]:
    """What the SD rules share: the generator's subjects (from the trained UNet's info, else the
    config) and the pipeline."""
    subjects = (Subjects(info["identities"], info["objects"]) if info
                else resolve_subjects(cfg, concept_names, None))
    return subjects, load_pipeline(cfg, bundle, unet_dir, device)


def sd_size(pipe) -> int:
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
