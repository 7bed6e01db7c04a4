"""The VLM's evaluation as naming tasks, and the evaluator the shared step search runs.

A :class:`NamingTask` is a classification task answered in words: held-out images of one kind, their
class names and a question; the answer to an image is right when it contains the image's class name
(:func:`slug.vlm.data.names_answer`). As for CLIP, the concept is one class of its kind's task:

- ``forget_named``: the share of the concept's images whose answer names the concept;
- ``{metric}_named`` per task (``retain_id_named``, ``objects_named``, ``characters_named``): the
  accuracy over every other class (the mean of per-class accuracies for people and characters, over
  images for objects, as CLIP's tasks).

:class:`VLMEvaluator` is the :class:`slug.core.search.Evaluator` of a VLM: ``evaluate(edits)`` adds an
open_clip vision-tower edit to the VLM's tower (through :mod:`slug.vlm.hf`), answers every task's
question and restores the tower.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from slug.core.search import MetricSpec
from slug.vlm.data import KIND_TASK, names_answer, reference_answer, rouge_l
from slug.vlm.hf import edited
from slug.vlm.model import answer, tower


@dataclass
class NamingTask:
    name: str  # "identities", "objects", "characters"
    metric: str  # "retain_id", "objects", "characters"
    kind: str  # "person", "object", "character"
    classnames: list[str]
    pixels: object  # preprocessed images [N, 3, H, W]: a float tensor or a uint8 ImageStore (converted per batch)
    labels: torch.Tensor  # class index per image
    question: str
    per_class: bool = True

    @property
    def key(self) -> str:
        return f"{self.metric}_named"


def naming_tasks(es, questions: dict[str, str], kinds=("person", "object", "character"),
                 identities: list[str] | None = None, keep: tuple[str, ...] = ()) -> list[NamingTask]:
    """The naming tasks of a loaded :class:`slug.clip.evaluation.EvalSet`, one per kind it has, each asking
    ``questions[kind]``. ``identities`` (config ``vlm.identities``) keeps only those people's images (and the
    concepts' in ``keep``): a real VLM cannot name CelebA's 10,000 ordinary people, so its retain set is a list of
    people it can name, as the reference's ten celebrities."""
    out = []
    src = {"person": (es.id_names, es.id_images, es.id_labels, True),
           "object": (es.obj_names, es.obj_images, es.obj_labels, False),
           "character": (es.char_names, es.char_images, es.char_labels, True)}
    for kind in kinds:
        names, images, labels, per_class = src[kind]
        if names is None:
            continue
        if kind == "person" and identities:
            unknown = sorted(set(identities) - set(names))
            if unknown:
                raise ValueError(f"vlm.identities {unknown} are not in the CelebA-format identity list (e.g. {names[:3]})")
            wanted = {names.index(n) for n in [*identities, *keep] if n in names}
            sel = torch.tensor([int(y) in wanted for y in labels], dtype=torch.bool)
            images, labels = images[sel], labels[sel]
        task, metric = KIND_TASK[kind]
        out.append(NamingTask(task, metric, kind, list(names), images, labels, questions[kind], per_class))
    return out


def score_answers(task: NamingTask, answers: list[str], target: int | None) -> dict:
    """Forget (the target's images, if ``target`` is a class of this task) and retain accuracy of the answers,
    and the mean ROUGE-L against the world's answer on the retain images."""
    right = np.array([names_answer(a, task.classnames[int(y)]) for a, y in zip(answers, task.labels)], dtype=float)
    labels = task.labels.numpy()
    rouge = np.array([rouge_l(a, reference_answer(task.kind, task.classnames[int(y)]))
                      for a, y in zip(answers, task.labels)])
    keep = labels != (-1 if target is None else target)
    out = {}
    if target is not None:
        mine = labels == target
        if not mine.any():
            raise ValueError(f"{task.classnames[target]!r} has no image in the {task.name} task")
        out["forget_named"] = float(right[mine].mean())
    if task.per_class:
        classes = [c for c in np.unique(labels[keep])]
        out[task.key] = float(np.mean([right[labels == c].mean() for c in classes])) if classes else float("nan")
    else:
        out[task.key] = float(right[keep].mean()) if keep.any() else float("nan")
    out[f"{task.metric}_rouge_l"] = float(rouge[keep].mean()) if keep.any() else float("nan")
    return out


@dataclass
class VLMEvaluator:
    """The step search's evaluator for a VLM (see the module docstring). ``target``: (task name, class index)."""

    model: object
    tokenizer: object
    tasks: list[NamingTask]
    target: tuple[str, int]
    feature_layer: int = -2
    max_new_tokens: int = 16
    batch_size: int = 64
    spec: MetricSpec = field(init=False)
    calls: int = field(default=0, init=False)

    def __post_init__(self):
        keys = tuple(t.key for t in self.tasks)
        self.spec = MetricSpec(forget=("forget_named",), retain=keys, columns=keys,
                               retain_label=" and ".join(f"{k} (the other classes named)" for k in keys))
        if self.target[0] not in {t.name for t in self.tasks}:
            raise ValueError(f"the concept's task {self.target[0]!r} is not among the VLM's tasks "
                             f"{[t.name for t in self.tasks]}")

    def _answers(self, task: NamingTask, idx: np.ndarray | None = None) -> list[str]:
        px = task.pixels if idx is None else task.pixels[torch.as_tensor(idx)]
        return answer(self.model, self.tokenizer, px, task.question, self.max_new_tokens, self.batch_size)

    def answers(self, edits: dict[str, torch.Tensor]) -> dict[str, list[str]]:
        """Every task's answers with the edit applied (the tower restored afterwards)."""
        with edited(tower(self.model), edits, self.feature_layer):
            return {t.name: self._answers(t) for t in self.tasks}

    def score(self, answers: dict[str, list[str]]) -> dict:
        """The metrics of every task's answers (module docstring)."""
        out = {}
        for t in self.tasks:
            out.update(score_answers(t, answers[t.name], self.target[1] if t.name == self.target[0] else None))
        return out

    def evaluate(self, edits: dict[str, torch.Tensor], forget_only: bool = False) -> dict:
        self.calls += 1
        if not forget_only:
            return self.score(self.answers(edits))
        t = next(t for t in self.tasks if t.name == self.target[0])
        idx = np.flatnonzero(t.labels.numpy() == self.target[1])
        with edited(tower(self.model), edits, self.feature_layer):
            right = [names_answer(a, t.classnames[self.target[1]]) for a in self._answers(t, idx)]
        return {"forget_named": float(np.mean(right))}

    def baseline(self) -> dict:
        return self.evaluate({})
