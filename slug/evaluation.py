"""Evaluation of a CLIP before and after unlearning (shared by SLUG's search, its report and baselines).

Metrics (all fractions in [0, 1] except MIA, in %):

- ``forget_top1/5``: the target's images, zero-shot over *all* identity names ("{name}.");
- ``retain_id_top1/5``: per-identity accuracy averaged over every *other* identity (the reference's
  celeba100 includes the target; we exclude it);
- ``objects_top1/5``: ImageNet-style zero-shot with the reference's 7 templates averaged;
- ``mia_mean/std``: membership inference on the matched image-text cosine, forget set (members)
  vs a non-member shard, logistic regression, repeated over seeds and splits, scaled to % once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from slug.data import load_images, read_celeba, read_imagenet_val, split_half
from slug.zeroshot import (IDENTITY_TEMPLATES, OBJECT_TEMPLATES, build_classifier, classifier_tokens,
                           encode_images, per_class_accuracy, topk_correct)


@dataclass
class EvalSet:
    id_images: torch.Tensor
    id_labels: torch.Tensor
    id_names: list[str]
    obj_images: torch.Tensor
    obj_labels: torch.Tensor
    obj_names: list[str]

    def target_index(self, name: str) -> int:
        try:
            return self.id_names.index(name)
        except ValueError:
            raise ValueError(f"identity {name!r} is not in the CelebA-format identity list "
                             f"({len(self.id_names)} names, e.g. {self.id_names[:3]}): check the concept's "
                             "display name in the config's concepts table") from None


def load_eval_set(celeba_dir: str, imagenet_dir: str, split: str, transform: Callable,
                  max_per_identity: int | None = None, max_per_class: int | None = None) -> EvalSet:
    """Load one split ('search', 'test' or 'all') of the identity and object sets into memory."""
    cel = read_celeba(celeba_dir)
    names = sorted(cel.identity.unique())
    inet = read_imagenet_val(imagenet_dir)
    classes = sorted(inet.classname.unique())
    if split != "all":
        cel = cel[split_half(cel, "identity") == split]
        inet = inet[split_half(inet, "wnid") == split]
    if max_per_identity:
        cel = cel.groupby("identity").head(max_per_identity)
    if max_per_class:
        inet = inet.groupby("wnid").head(max_per_class)
    return EvalSet(
        id_images=load_images(list(cel.path), transform),
        id_labels=torch.tensor([names.index(n) for n in cel.identity]),
        id_names=names,
        obj_images=load_images(list(inet.path), transform),
        obj_labels=torch.tensor([classes.index(c) for c in inet.classname]),
        obj_names=classes,
    )


def score(id_feats: torch.Tensor, id_clf: torch.Tensor, obj_feats: torch.Tensor, obj_clf: torch.Tensor,
          es: EvalSet, target: int | None) -> dict[str, float]:
    """The accuracy metrics from features and classifiers."""
    out: dict[str, float] = {}
    for k in (1, 5):
        pc = per_class_accuracy(id_feats, id_clf, es.id_labels, k)
        if target is not None:
            mask = es.id_labels == target
            out[f"forget_top{k}"] = float(topk_correct(id_feats[mask] @ id_clf.T, es.id_labels[mask], k).float().mean())
            pc = torch.cat([pc[:target], pc[target + 1:]])
        out[f"retain_id_top{k}"] = float(np.nanmean(pc.numpy()))
        out[f"objects_top{k}"] = float(topk_correct(obj_feats @ obj_clf.T, es.obj_labels, k).float().mean())
    return out


class CachedEvaluator:
    """Evaluate single-layer edits fast by caching what the edited layer cannot change.

    An edit of a text-tower tensor leaves every image feature unchanged, so only the text
    classifiers are recomputed; an edit of a vision-tower tensor leaves the classifiers unchanged.
    Results equal an uncached evaluation (tested to 1e-5).
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Callable, es: EvalSet, target: int | None):
        self.model, self.es, self.target = model, es, target
        self.id_tokens = classifier_tokens(tokenizer, es.id_names, IDENTITY_TEMPLATES)
        self.obj_tokens = classifier_tokens(tokenizer, es.obj_names, OBJECT_TEMPLATES)
        self.params = dict(model.named_parameters())
        self._base = self._features()

    def _classifiers(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (build_classifier(self.model, self.id_tokens, len(IDENTITY_TEMPLATES)),
                build_classifier(self.model, self.obj_tokens, len(OBJECT_TEMPLATES)))

    def _images(self) -> tuple[torch.Tensor, torch.Tensor]:
        return encode_images(self.model, self.es.id_images), encode_images(self.model, self.es.obj_images)

    def _features(self):
        return (*self._images(), *self._classifiers())

    def baseline(self) -> dict[str, float]:
        idf, objf, idc, objc = self._base
        return score(idf, idc, objf, objc, self.es, self.target)

    @torch.no_grad()
    def evaluate(self, edits: dict[str, torch.Tensor]) -> dict[str, float]:
        """Metrics of the model with ``theta[name] += delta`` for each edit (restored afterwards)."""
        originals = {}
        try:
            for name, delta in edits.items():
                p = self.params[name]
                originals[name] = p.detach().clone()
                p.add_(delta.to(p.device, p.dtype))
            towers = {("vision" if n.startswith("visual.") else "text") for n in edits}
            idf, objf, idc, objc = self._base
            if "vision" in towers:
                idf, objf = self._images()
            if "text" in towers:
                idc, objc = self._classifiers()
            return score(idf, idc, objf, objc, self.es, self.target)
        finally:
            for name, orig in originals.items():
                self.params[name].copy_(orig)

    @torch.no_grad()
    def evaluate_uncached(self) -> dict[str, float]:
        idf, objf, idc, objc = self._features()
        return score(idf, idc, objf, objc, self.es, self.target)


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
              test_size: float = 0.2) -> tuple[float, float]:
    """Membership-inference accuracy in % (mean, std over seeds), on a 1-D feature.

    Each seed subsamples both sets to the same size, then a logistic regression is scored on
    ``splits`` stratified shuffle splits; the seed's score is the mean test accuracy. 50% means
    members are indistinguishable from non-members.
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
def cosine_matrix(model: torch.nn.Module, tokenizer: Callable, es: EvalSet, names: Sequence[str]) -> np.ndarray:
    """[image identity x name] mean cosine similarity between each identity's images and "{name}."."""
    idx = [es.target_index(n) for n in names]
    txt = F.normalize(build_classifier(model, classifier_tokens(tokenizer, list(names), IDENTITY_TEMPLATES), 1), dim=-1)
    rows = []
    for i in idx:
        feats = encode_images(model, es.id_images[es.id_labels == i])
        rows.append((feats @ txt.T).mean(0).numpy())
    return np.stack(rows)
