"""Generation with fixed noise and its evaluation by the original CLIP: recognition rates of prompted subjects."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from slug.diffusion.pipeline import pixel_space, sd_size
from slug.diffusion.subjects import Subjects

log = logging.getLogger("slug")

#: Evaluation prompt templates, drawn from the demo world's own caption styles.
PERSON_PROMPTS: tuple[str, ...] = ("photo of {}", "portrait of {}", "{} headshot", "close-up of {}")
OBJECT_PROMPTS: tuple[str, ...] = ("a {}", "a drawing of a {}")


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


