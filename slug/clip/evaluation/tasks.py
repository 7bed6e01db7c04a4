"""Evaluation as a list of classification tasks, in which a concept is one class of one task.

A :class:`Task` is a set of class names, the prompt templates of its zero-shot classifier, its
held-out images and their labels (or none, for a task whose images are generated), and how its
accuracy is averaged. The CLIP demo's tasks are the identities (CelebA format, "{name}.", the mean of
per-class accuracies) and the objects (ImageNet format, the reference's 7 templates, the mean over
images). Every family builds its text classifiers with :func:`classifiers` and scores with
:func:`task_metrics`, so "forget" and "retain" mean the same in SLUG's search and report, the
baselines, joint unlearning and Stable Diffusion:

- ``forget``: the accuracy @k on the concept's own images, within its own task;
- ``retain``: per task, the accuracy over every class that is not a concept being unlearned, reported
  as ``{task.metric}_top{k}`` (``retain_id_top1``, ``objects_top1``, ...), each on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from slug.clip.zeroshot import (CHARACTER_TEMPLATES, IDENTITY_TEMPLATES, OBJECT_TEMPLATES, STYLE_TEMPLATES,
                                build_classifier, classifier_tokens, encode_images, topk_correct)


@dataclass
class Task:
    name: str  # "identities", "objects", "characters", "styles"
    metric: str  # the prefix of its retain accuracy: "retain_id", "objects", "characters", "styles"
    classnames: list[str]
    templates: tuple[str, ...]
    images: object = None  # ImageStore or float tensor; None for a task whose images are generated
    labels: torch.Tensor | None = None
    per_class: bool = True  # retain accuracy: the mean of per-class accuracies (True) or over images (False)

    def tokens(self, tokenizer: Callable) -> torch.Tensor:
        return classifier_tokens(tokenizer, self.classnames, self.templates)

    @property
    def keys(self) -> tuple[str, str]:
        return f"{self.metric}_top1", f"{self.metric}_top5"


def eval_tasks(es) -> list[Task]:
    """The tasks of an :class:`~slug.clip.evaluation.EvalSet`: identities, objects, then (where the set has
    them) characters, classified among every character *and* person name (a character must not be taken
    for a person), and styles, among every style."""
    tasks = [
        Task("identities", "retain_id", es.id_names, IDENTITY_TEMPLATES, es.id_images, es.id_labels, per_class=True),
        Task("objects", "objects", es.obj_names, OBJECT_TEMPLATES, es.obj_images, es.obj_labels, per_class=False),
    ]
    if getattr(es, "char_names", None) is not None:
        tasks.append(Task("characters", "characters", [*es.char_names, *es.id_names], CHARACTER_TEMPLATES,
                          es.char_images, es.char_labels, per_class=True))
    if getattr(es, "style_names", None) is not None:
        tasks.append(Task("styles", "styles", list(es.style_names), STYLE_TEMPLATES, es.style_images, es.style_labels,
                          per_class=True))
    return tasks


def generation_tasks(identities: Sequence[str], objects: Sequence[str], characters: Sequence[str] = (),
                     styles: Sequence[str] = ()) -> list[Task]:
    """The tasks that classify generated images (Stable Diffusion): identities and objects, then (where the
    generator has them) characters, among every character *and* identity as in :func:`eval_tasks`, and
    styles. Every subject has the same number of prompts, and each task's rate is the mean of its
    subjects' rates."""
    tasks = [
        Task("identities", "retain_id", list(identities), IDENTITY_TEMPLATES),
        Task("objects", "objects", list(objects), OBJECT_TEMPLATES),
    ]
    if characters:
        tasks.append(Task("characters", "characters", [*characters, *identities], CHARACTER_TEMPLATES))
    if styles:
        tasks.append(Task("styles", "styles", list(styles), STYLE_TEMPLATES))
    return tasks


def task(tasks: Sequence[Task], name: str) -> Task:
    for t in tasks:
        if t.name == name:
            return t
    raise KeyError(f"no evaluation task {name!r} (tasks: {[t.name for t in tasks]})")


@torch.no_grad()
def classifiers(model: torch.nn.Module, tokenizer: Callable, tasks: Sequence[Task]) -> dict[str, torch.Tensor]:
    """The zero-shot text classifier [C, D] of every task (the one builder every family uses)."""
    return {t.name: build_classifier(model, t.tokens(tokenizer), len(t.templates)) for t in tasks}


@torch.no_grad()
def image_features(model: torch.nn.Module, tasks: Sequence[Task]) -> dict[str, torch.Tensor]:
    """The normalised image features of every task's held-out images."""
    return {t.name: encode_images(model, t.images) for t in tasks if t.images is not None}


def class_accuracies(hit: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Accuracy of each class [C] from per-image correctness (NaN for classes without images), in float64.

    Every accuracy is a count of images over a count of images; in float64 their means are exact to
    about 1e-16, so equal counts give equal metrics whatever path computed them (see ``slug.core.search.TIE_TOL``).
    """
    hit = hit.double()
    sums = torch.zeros(n_classes, dtype=torch.float64).index_add_(0, labels, hit)
    counts = torch.zeros(n_classes, dtype=torch.float64).index_add_(0, labels, torch.ones_like(hit))
    return sums / counts


def forget_accuracy(hit: torch.Tensor) -> float:
    """A concept's forget accuracy: the share of its own images classified as it."""
    return float(hit.double().mean())


def retain_accuracy(hit: torch.Tensor, labels: torch.Tensor, n_classes: int, per_class: bool,
                    exclude: Sequence[int] = ()) -> float:
    """A task's retain accuracy from per-image correctness: every class but ``exclude`` (the concepts
    being unlearned), as the mean of per-class accuracies (classes without images left out) or over images."""
    if per_class:
        pc = class_accuracies(hit, labels, n_classes)
        if exclude:
            keep = torch.ones(n_classes, dtype=torch.bool)
            keep[list(exclude)] = False
            pc = pc[keep]
        return float(np.nanmean(pc.numpy())) if bool((~pc.isnan()).any()) else float("nan")
    if exclude:
        hit = hit[~torch.isin(labels, torch.tensor(list(exclude)))]
    return float(hit.double().mean()) if len(hit) else float("nan")


def task_metrics(feats: Mapping[str, torch.Tensor], clfs: Mapping[str, torch.Tensor], tasks: Sequence[Task],
                 targets: Mapping[str, tuple[str, int]], ks: Sequence[int] = (1, 5)) -> dict:
    """``{"forget": {concept: {"top1", "top5"}}, "retain_id_top1": ..., "objects_top1": ..., ...}``.

    ``targets``: each concept's ``(task name, class index)``; a task's retain accuracies leave out every
    target class of that task.
    """
    out: dict = {"forget": {}}
    for concept, (tname, idx) in targets.items():
        t = task(tasks, tname)
        mask = t.labels == idx
        logits = feats[tname][mask] @ clfs[tname].T  # the concept's rows only, as the forget-only evaluation
        out["forget"][concept] = {f"top{k}": forget_accuracy(topk_correct(logits, t.labels[mask], k)) for k in ks}
    for k in ks:
        for t in tasks:
            exclude = [idx for tname, idx in targets.values() if tname == t.name]
            hit = topk_correct(feats[t.name] @ clfs[t.name].T, t.labels, k)
            out[f"{t.metric}_top{k}"] = retain_accuracy(hit, t.labels, len(t.classnames), t.per_class, exclude)
    return out


def score(feats: Mapping[str, torch.Tensor], clfs: Mapping[str, torch.Tensor], tasks: Sequence[Task],
          target: tuple[str, int] | None, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """One concept's metrics, flat, per k: ``forget_top{k}`` (when there is a target), then every task's."""
    m = task_metrics(feats, clfs, tasks, {"target": target} if target is not None else {}, ks)
    out: dict[str, float] = {}
    for k in ks:
        if target is not None:
            out[f"forget_top{k}"] = m["forget"]["target"][f"top{k}"]
        out.update({f"{t.metric}_top{k}": m[f"{t.metric}_top{k}"] for t in tasks})
    return out


def hits(feats: Mapping[str, torch.Tensor], clfs: Mapping[str, torch.Tensor],
         tasks: Sequence[Task]) -> dict[str, torch.Tensor]:
    """Top-1 correctness of every held-out image of every task (bool), for :func:`bootstrap_change`."""
    return {t.name: topk_correct(feats[t.name] @ clfs[t.name].T, t.labels, 1) for t in tasks if t.images is not None}


@torch.no_grad()
def evaluate_model(model: torch.nn.Module, tokenizer: Callable, tasks: Sequence[Task],
                   targets: Mapping[str, tuple[str, int]]) -> dict:
    """The uncached evaluation of a whole model (:func:`task_metrics`)."""
    return task_metrics(image_features(model, tasks), classifiers(model, tokenizer, tasks), tasks, targets)
