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
from slug.core.search import MetricSpec

log = logging.getLogger("slug")

#: Evaluation prompt templates, drawn from the demo world's own caption styles (a style's prompts put every
#: object of the generator in it: "a {object} in {style} style", the UnlearnCanvas form).
PERSON_PROMPTS: tuple[str, ...] = ("photo of {}", "portrait of {}", "{} headshot", "close-up of {}")
OBJECT_PROMPTS: tuple[str, ...] = ("a {}", "a drawing of a {}")
CHARACTER_PROMPTS: tuple[str, ...] = ("{}", "{} cartoon", "{} fan art", "cute {} sticker")
STYLE_PROMPT = "a {object} in {{}} style"


def prompt_templates(kind: str, objects: Sequence[str]) -> tuple[str, ...]:
    """The prompt templates of a subject of ``kind`` (``{}`` is the subject)."""
    if kind == "style":
        return tuple(STYLE_PROMPT.format(object=o) for o in objects)
    return {"person": PERSON_PROMPTS, "object": OBJECT_PROMPTS, "character": CHARACTER_PROMPTS}[kind]


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
    """Prompts with the subject each one shows, its kind (``target``, or the subject's kind: ``person``,
    ``object``, ``character``, ``style``) and the recognition task that scores it."""

    prompts: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)

    def add(self, subject: str, kind: str, templates: Sequence[str], per_subject: int, task: str) -> None:
        for j in range(per_subject):
            self.prompts.append(templates[j % len(templates)].format(subject))
            self.subjects.append(subject)
            self.kinds.append(kind)
            self.tasks.append(task)

    def __len__(self) -> int:
        return len(self.prompts)


def evaluation_prompts(subjects: Subjects, target: str, n_target: int, n_identity: int, n_object: int,
                       kind: str | None = None) -> PromptSet:
    """The target's prompts (``n_target``, in its kind's templates), then ``n_identity`` per other identity,
    ``n_object`` per object, and ``n_identity`` per character and per style (besides the target)."""
    from slug.concepts import KIND_TASKS

    kind = kind or subjects.kind_of(target)
    ps = PromptSet()
    ps.add(target, "target", prompt_templates(kind, subjects.objects), n_target, KIND_TASKS[kind])
    for k, n in (("person", n_identity), ("object", n_object), ("character", n_identity), ("style", n_identity)):
        for name in subjects.of(k):
            if name != target:
                ps.add(name, k, prompt_templates(k, subjects.objects), n, KIND_TASKS[k])
    return ps


class Recogniser:
    """Zero-shot classification of generated images by a CLIP, within each image's task
    (:func:`slug.clip.evaluation.tasks.generation_tasks`, the reference's templates)."""

    def __init__(self, bundle, subjects: Subjects):
        from slug.clip.evaluation.tasks import classifiers

        self.bundle, self.subjects = bundle, subjects
        m = bundle.model.eval()
        self.tasks = subjects.tasks()
        self.clfs = classifiers(m, bundle.tokenizer, self.tasks)
        size = m.visual.image_size
        self.size = size[0] if isinstance(size, (tuple, list)) else int(size)
        norm = [t for t in bundle.preprocess_val.transforms if type(t).__name__ == "Normalize"]
        self.mean = torch.tensor(norm[0].mean).view(1, 3, 1, 1) if norm else torch.zeros(1, 3, 1, 1)
        self.std = torch.tensor(norm[0].std).view(1, 3, 1, 1) if norm else torch.ones(1, 3, 1, 1)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, tasks: Sequence[str]) -> list[str]:
        """The predicted subject name of each image in [0, 1], within its task (``PromptSet.tasks``)."""
        from slug.clip.zeroshot import encode_images

        x = F.interpolate(images.float(), size=(self.size, self.size), mode="bicubic", align_corners=False).clamp(0, 1)
        feats = encode_images(self.bundle.model, (x - self.mean) / self.std)
        pred = {t.name: (feats @ self.clfs[t.name].T).argmax(1) for t in self.tasks}
        names = {t.name: t.classnames for t in self.tasks}
        return [names[t][int(pred[t][i])] for i, t in enumerate(tasks)]


def recognition_metrics(ps: PromptSet, predictions: Sequence[str], subjects: Subjects) -> dict:
    """Recognition rates with the task metrics of :mod:`slug.clip.evaluation.tasks`: the target's, each other
    subject's, and each task's mean over its other subjects.

    ``forget_top1`` = the target's rate; per task its retain key (``retain_id_top1`` = the mean rate of the
    other identities, ``objects_top1`` of the objects, ``characters_top1``, ``styles_top1``) and its chance.
    """
    from slug.clip.evaluation.tasks import forget_accuracy, retain_accuracy

    hit = torch.tensor([p == s for p, s in zip(predictions, ps.subjects)])
    kinds = np.array(ps.kinds)
    subj = np.array(ps.subjects)
    per = {s: float(hit[torch.from_numpy(subj == s)].double().mean()) for s in dict.fromkeys(ps.subjects)}
    out = {"forget_top1": forget_accuracy(hit[torch.from_numpy(kinds == "target")])}
    out["forget_top5"] = out["forget_top1"]  # one recognition rate: the search's top-5 criterion means the same here
    chance = {}
    for t in subjects.tasks():
        chance[t.name] = 1.0 / len(t.classnames)
        rows = [i for i, name in enumerate(ps.tasks) if name == t.name and ps.kinds[i] != "target"]
        if not rows:
            continue
        labels = torch.tensor([t.classnames.index(ps.subjects[i]) for i in rows], dtype=torch.long)
        out[t.keys[0]] = retain_accuracy(hit[rows], labels, len(t.classnames), t.per_class)
    return {**out, "chance_identity": subjects.chance_identity, "chance_object": subjects.chance_object,
            "chance": chance, "per_subject": per}


def retain_keys(metrics: dict) -> tuple[str, ...]:
    """The retain keys a recognition pass measured, in task order."""
    from slug.concepts import RETAIN_TOP1

    return tuple(k for k in RETAIN_TOP1 if k in metrics)


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
        # the driver's view: the search's criterion and retain score, on one recognition rate per task that
        # has prompts besides the target's
        others = {task for task, kind in zip(ps.tasks, ps.kinds) if kind != "target"}
        keys = tuple(t.keys[0] for t in recogniser.tasks if t.name in others)
        self.spec = (MetricSpec(columns=keys) if keys == MetricSpec().retain else
                     MetricSpec(retain=keys, columns=keys, retain_label=" and ".join(keys)))

    def evaluate(self, edits: dict[str, torch.Tensor], forget_only: bool = False) -> dict:
        """Every metric of one generation pass (``forget_only`` changes nothing: the target's prompts and
        the others' are generated together)."""
        from slug.clip.hf import apply_text_edit, restore

        originals = apply_text_edit(self.pipe, edits, self.clip_skip) if edits else {}
        try:
            imgs = generate(self.pipe, self.ps.prompts, self.noise, self.steps, self.guidance, clip_skip=self.clip_skip)
        finally:
            restore(self.pipe, originals)
        m = recognition_metrics(self.ps, self.rec.predict(imgs, self.ps.tasks), self.rec.subjects)
        return m

    def baseline(self) -> dict:
        return self.evaluate({})


def recognition_checks(before: dict, after: dict, chance: float) -> dict[str, bool]:
    """The generation targets, from ``recognition_metrics`` before and after the edit: the target was
    recognised above chance + 5 pt before and is within 5 pt of chance after (``chance``: its task's); every
    other task's recognition rate (identities, objects, characters, styles) moved by at most 10 pt."""
    from slug.concepts import RETAIN_TASK

    checks = {
        "target_before_above_chance": before["forget_top1"] > chance + 0.05,
        "target_after_within_5pt_of_chance": after["forget_top1"] <= chance + 0.05,
    }
    for k in retain_keys(before):
        checks[f"{RETAIN_TASK[k]}_within_10pt"] = abs(after[k] - before[k]) <= 0.10
    return checks
