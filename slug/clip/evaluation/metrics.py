"""The metrics: accuracies from features and classifiers, their bootstrap intervals, MIA, cosines."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from slug.clip.evaluation.sets import EvalSet
from slug.concepts import KIND_TASKS
from slug.clip.zeroshot import encode_images


def bootstrap_change(before: torch.Tensor, after: torch.Tensor, labels: torch.Tensor, macro: bool,
                     exclude: int | None = None, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """The change of an accuracy after unlearning and its bootstrap confidence interval.

    ``before``/``after``: the top-1 correctness of the same held-out images under the two models;
    ``labels``: their classes. The accuracy is the mean over images (``macro=False``, as objects) or
    the mean of the per-class accuracies (``macro=True``, as retain identities; class ``exclude``, the
    target, left out). The images are resampled with replacement within each class (the held-out sets
    have fixed counts per class), the same draw for both models (a paired bootstrap), ``n_boot`` times;
    the interval is the percentile interval at ``level``. Returns ``{"change", "ci": [lo, hi], ...}``
    in fractions.
    """
    if not (before.shape == after.shape == labels.shape):
        raise ValueError(f"before {tuple(before.shape)}, after {tuple(after.shape)} and labels "
                         f"{tuple(labels.shape)} must have one entry per image")
    diff = after.double() - before.double()
    per_class = [diff[labels == c] for c in torch.unique(labels).tolist() if c != exclude]
    if not per_class:
        raise ValueError("no class left to evaluate")
    n_images = sum(len(d) for d in per_class)
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(n_boot, dtype=torch.float64)
    point = 0.0
    for d in per_class:
        weight = 1.0 / (len(d) * len(per_class)) if macro else 1.0 / n_images
        total += d[torch.randint(len(d), (n_boot, len(d)), generator=gen)].sum(1) * weight
        point += float(d.sum()) * weight
    alpha = (1.0 - level) / 2
    lo, hi = torch.quantile(total, torch.tensor([alpha, 1.0 - alpha], dtype=torch.float64)).tolist()
    return {"change": point, "ci": [lo, hi], "level": level, "n_boot": n_boot, "n_images": n_images,
            "n_classes": len(per_class), "average": "per class" if macro else "per image"}


# ------------------------------------------------------------------------------------------
# Membership inference and similarity matrices
# ------------------------------------------------------------------------------------------


@torch.no_grad()
def matched_cosine(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        img_f, txt_f = model(images[i:i + batch_size].to(device), tokens[i:i + batch_size].to(device))[:2]
        out.append(F.cosine_similarity(img_f, txt_f, dim=-1).cpu())
    return torch.cat(out).numpy()


def mia_score(member: np.ndarray, nonmember: np.ndarray, seeds: int = 10, splits: int = 10,
              test_size: float = 0.1) -> tuple[float, float]:
    """Membership-inference accuracy in % (mean, std over seeds), on a 1-D feature.

    Each seed subsamples both sets to the same size, then a logistic regression is scored on
    ``splits`` stratified shuffle splits (10% held out, scikit-learn's default, as the reference);
    the seed's score is the mean test accuracy. 50% means members are indistinguishable from
    non-members.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score

    member, nonmember = np.asarray(member, float), np.asarray(nonmember, float)
    n = min(len(member), len(nonmember))
    if n < 5:
        raise ValueError(f"membership inference needs >= 5 samples per side, got {len(member)} and {len(nonmember)}")
    scores = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        x = np.concatenate([rng.choice(member, n, replace=False), rng.choice(nonmember, n, replace=False)])[:, None]
        y = np.r_[np.ones(n), np.zeros(n)]
        cv = StratifiedShuffleSplit(n_splits=splits, test_size=test_size, random_state=seed)
        scores.append(cross_val_score(LogisticRegression(), x, y, cv=cv).mean())
    return 100.0 * float(np.mean(scores)), 100.0 * float(np.std(scores))


@torch.no_grad()
def cosine_matrix(model: torch.nn.Module, tokenizer: Callable, es: EvalSet, names: Sequence[str],
                  kind: str | Sequence[str] = "person") -> np.ndarray:
    """[image class x name] mean cosine similarity between each class's images and each name's prompts.

    ``kind``: one kind for every name, or one per name (a joint set of mixed kinds): a name's images are
    those of its class in its kind's task, its prompts that task's templates ("{name}." for people, the
    object templates' mean for objects, ...)."""
    from slug.clip.evaluation.tasks import Task, classifiers, eval_tasks, task

    kinds = [kind] * len(names) if isinstance(kind, str) else list(kind)
    tasks = eval_tasks(es)
    own = [task(tasks, KIND_TASKS[k]) for k in kinds]
    idx = [es.target(n, k)[1] for n, k in zip(names, kinds)]
    prompts = [Task("name", "name", [n], t.templates) for n, t in zip(names, own)]
    txt = F.normalize(torch.cat([classifiers(model, tokenizer, [p])["name"] for p in prompts]), dim=-1)
    rows = []
    for i, t in zip(idx, own):
        feats = encode_images(model, t.images[t.labels == i])
        rows.append((feats @ txt.T).mean(0).numpy())
    return np.stack(rows)
