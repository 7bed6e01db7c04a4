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

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from slug.data import ImageStore, load_images, read_celeba, read_imagenet_val, split_half
from slug.zeroshot import (IDENTITY_TEMPLATES, OBJECT_TEMPLATES, build_classifier, classifier_tokens,
                           encode_images, per_class_accuracy, topk_correct)


@dataclass
class EvalSet:
    id_images: ImageStore | torch.Tensor  # uint8 pixels (load_eval_set) or preprocessed float images
    id_labels: torch.Tensor
    id_names: list[str]
    obj_images: ImageStore | torch.Tensor
    obj_labels: torch.Tensor
    obj_names: list[str]

    def has_images(self, name: str) -> bool:
        return name in self.id_names and bool((self.id_labels == self.id_names.index(name)).any())

    def target_index(self, name: str) -> int:
        try:
            i = self.id_names.index(name)
        except ValueError:
            raise ValueError(f"identity {name!r} is not in the CelebA-format identity list "
                             f"({len(self.id_names)} names, e.g. {self.id_names[:3]}): check the concept's "
                             "display name in the config's concepts table") from None
        if not self.has_images(name):
            raise ValueError(f"identity {name!r} has no image in this split of the CelebA-format set: the search "
                             "and the report each use half of a person's images, so list at least 2 for them")
        return i


def load_eval_set(celeba_dir: str, imagenet_dir: str, split: str, transform: Callable,
                  max_per_identity: int | None = None, max_per_class: int | None = None,
                  keep: Sequence[str] = ()) -> EvalSet:
    """Load one split ('search', 'test' or 'all') of the identity and object sets into memory.

    ``max_per_identity`` / ``max_per_class`` keep the first images of each identity / object class
    (a full CelebA and ImageNet val do not fit in memory as tensors); the identities in ``keep``
    (the concepts being unlearned) keep all their images, so the forget metrics are never capped.
    """
    cel = read_celeba(celeba_dir)
    names = sorted(cel.identity.unique())
    inet = read_imagenet_val(imagenet_dir)
    wnids = sorted(inet.wnid.unique())  # a class is a wnid: two classes may share a name
    class_name = dict(zip(inet.wnid, inet.classname))
    if split != "all":
        cel = cel[split_half(cel, "identity") == split]
        inet = inet[split_half(inet, "wnid") == split]
    if max_per_identity:
        exempt = cel.identity.isin(list(keep))
        cel = pd.concat([cel[~exempt].groupby("identity").head(max_per_identity), cel[exempt]]).sort_index()
    if max_per_class:
        inet = inet.groupby("wnid").head(max_per_class)
    id_index, obj_index = {n: i for i, n in enumerate(names)}, {w: i for i, w in enumerate(wnids)}
    return EvalSet(
        id_images=load_images(list(cel.path), transform),
        id_labels=torch.tensor([id_index[n] for n in cel.identity]),
        id_names=names,
        obj_images=load_images(list(inet.path), transform),
        obj_labels=torch.tensor([obj_index[w] for w in inet.wnid]),
        obj_names=[class_name[w] for w in wnids],
    )


def score(id_feats: torch.Tensor, id_clf: torch.Tensor, obj_feats: torch.Tensor, obj_clf: torch.Tensor,
          es: EvalSet, target: int | None) -> dict[str, float]:
    """The accuracy metrics from features and classifiers."""
    out: dict[str, float] = {}
    for k in (1, 5):
        pc = per_class_accuracy(id_feats, id_clf, es.id_labels, k)
        if target is not None:
            mask = es.id_labels == target
            out[f"forget_top{k}"] = float(topk_correct(id_feats[mask] @ id_clf.T, es.id_labels[mask], k).double().mean())
            pc = torch.cat([pc[:target], pc[target + 1:]])
        out[f"retain_id_top{k}"] = float(np.nanmean(pc.numpy()))
        out[f"objects_top{k}"] = float(topk_correct(obj_feats @ obj_clf.T, es.obj_labels, k).double().mean())
    return out


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


class _LazyChunks:
    """``(images[i:i + bs].to(device), None)`` for each chunk, made when iterated (re-iterable): the
    float images of a whole evaluation set are never all in memory at once."""

    def __init__(self, images, bs: int, device: torch.device):
        self.images, self.bs, self.device = images, bs, device

    def __iter__(self):
        for i in range(0, len(self.images), self.bs):
            yield self.images[i:i + self.bs].to(self.device), None


class CachedEvaluator:
    """Evaluate single-layer edits fast by caching what the edited layer cannot change.

    An edit of a text-tower tensor leaves every image feature unchanged, and an edit of a
    vision-tower tensor leaves the text classifiers unchanged. Within the edited tower, the
    activations entering the stage the edit first touches (see ``_Staged``) are cached, so an
    evaluation runs only the edited block's half and what follows it. Only one depth per tower
    is cached at a time (the layer being searched): ``cache_bytes()`` reports its size.
    Results equal an uncached evaluation (tested to 1e-5). Models other than open_clip's
    standard ``CLIP`` fall back to recomputing the edited tower.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Callable, es: EvalSet, target: int | None,
                 batch_size: int = 256, partial: bool = True):
        self.model, self.es, self.target, self.batch_size = model, es, target, batch_size
        self.id_tokens = classifier_tokens(tokenizer, es.id_names, IDENTITY_TEMPLATES)
        self.obj_tokens = classifier_tokens(tokenizer, es.obj_names, OBJECT_TEMPLATES)
        self.params = dict(model.named_parameters())
        self.device = next(model.parameters()).device
        self._staged = {}
        if partial and _StagedVision.supports(model):
            self._staged["vision"] = _StagedVision(model.visual, batch_size)
        if partial and _StagedText.supports(model):
            self._staged["text"] = _StagedText(model, batch_size)
        self._target_mask = es.id_labels == target if target is not None else None
        self._cache: dict[str, tuple[int, dict]] = {}
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

    def hits(self) -> dict[str, torch.Tensor]:
        """Top-1 correctness of every identity and object image (bool), for :func:`bootstrap_change`."""
        idf, objf, idc, objc = self._base
        return {"identities": topk_correct(idf @ idc.T, self.es.id_labels, 1),
                "objects": topk_correct(objf @ objc.T, self.es.obj_labels, 1)}

    # -- partial forward -----------------------------------------------------------------
    def _raw_chunks(self, tower: str) -> dict[str, list]:
        """The tower's inputs in chunks of ``batch_size``, with what each chunk needs (text: EOT)."""
        bs, out = self.batch_size, {}
        if tower == "vision":  # converted to float one chunk at a time, when iterated
            for g, x in self._image_groups().items():
                out[g] = _LazyChunks(x, bs, self.device)
        else:
            for g, tok in (("id", self.id_tokens), ("obj", self.obj_tokens)):
                eot = tok.argmax(dim=-1)
                T = int(eot.max()) + 1  # causal attention: later tokens cannot reach the EOT token
                out[g] = [(tok[i:i + bs, :T].to(self.device), {"T": T, "eot": eot[i:i + bs].to(self.device)})
                          for i in range(0, len(tok), bs)]
        return out

    def _entering(self, tower: str, stage: int) -> dict[str, list]:
        """Activations entering ``stage`` under the current (unedited) weights; one depth cached."""
        st = self._staged[tower]
        if stage == 0:  # the whole tower runs: nothing worth keeping
            self._cache.pop(tower, None)
            return self._raw_chunks(tower)
        cached = self._cache.get(tower)
        if cached is not None and cached[0] == stage:
            return cached[1]
        if cached is not None and cached[0] < stage:
            start, src = cached
        else:
            start, src = 0, self._raw_chunks(tower)
        self._cache.pop(tower, None)
        acts = {g: [(st.advance(x, aux, start, stage), aux) for x, aux in chunks] for g, chunks in src.items()}
        self._cache[tower] = (stage, acts)
        return acts

    def _image_groups(self) -> dict[str, torch.Tensor]:
        """The vision tower's inputs: identity and object images, and the target's images again
        ("fgt", a few dozen) so a forget-only evaluation runs on them alone."""
        groups = {"id": self.es.id_images, "obj": self.es.obj_images}
        if self.target is not None:
            groups["fgt"] = self.es.id_images[self._target_mask]
        return groups

    def _finish(self, tower: str, stage: int, acts: dict[str, list], groups: tuple[str, ...]) -> list[torch.Tensor]:
        """Features of ``groups`` (vision: image features; text: the normalised per-name classifiers)."""
        st = self._staged[tower]
        feats = [torch.cat([st.advance(x, aux, stage, st.n_stages).float().cpu() for x, aux in acts[g]])
                 for g in groups]
        if tower == "vision":
            return feats
        n_templates = {"id": len(IDENTITY_TEMPLATES), "obj": len(OBJECT_TEMPLATES)}
        return [F.normalize(f.view(-1, n_templates[g], f.shape[-1]).mean(1), dim=-1) for g, f in zip(groups, feats)]

    def cache_bytes(self) -> int:
        """Bytes held by the cached activations (both towers)."""
        return sum(x.numel() * x.element_size() for _, acts in self._cache.values()
                   for chunks in acts.values() for x, _ in chunks)

    def clear_cache(self) -> None:
        self._cache.clear()

    @torch.no_grad()
    def evaluate(self, edits: dict[str, torch.Tensor], forget_only: bool = False) -> dict[str, float]:
        """Metrics of the model with ``theta[name] += delta`` for each edit (restored afterwards).

        ``forget_only``: only ``forget_top1``/``forget_top5``, from the target's images and the identity
        classifier alone (a few percent of the cost of a vision edit's full evaluation); the step search
        uses it to reject trials that do not forget without evaluating the retain sets.
        """
        if forget_only and self.target is None:
            raise ValueError("a forget-only evaluation needs a target identity")
        unknown = [n for n in edits if n not in self.params]
        if unknown:
            raise KeyError(f"edited parameters not in the model: {unknown[:5]}")
        towers: dict[str, int] = {}
        for name in edits:
            tower = "vision" if name.startswith("visual.") else "text"
            stage = self._staged[tower].stage_of(name) if tower in self._staged else 0
            towers[tower] = min(stage, towers.get(tower, stage))
        # the cached activations are those of the unedited model: take them before editing
        acts = {t: self._entering(t, s) for t, s in towers.items() if t in self._staged}
        originals = {}
        try:
            for name, delta in edits.items():
                p = self.params[name]
                originals[name] = p.detach().clone()
                p.add_(delta.to(p.device, p.dtype))
            idf, objf, idc, objc = self._base
            if forget_only:
                fgt = idf[self._target_mask]
                if "vision" in towers:
                    fgt = (self._finish("vision", towers["vision"], acts["vision"], ("fgt",))[0] if "vision" in acts
                           else encode_images(self.model, self.es.id_images[self._target_mask]))
                if "text" in towers:
                    idc = (self._finish("text", towers["text"], acts["text"], ("id",))[0] if "text" in acts
                           else build_classifier(self.model, self.id_tokens, len(IDENTITY_TEMPLATES)))
                labels = torch.full((len(fgt),), self.target, dtype=torch.long)
                return {f"forget_top{k}": float(topk_correct(fgt @ idc.T, labels, k).double().mean()) for k in (1, 5)}
            if "vision" in towers:
                idf, objf = (self._finish("vision", towers["vision"], acts["vision"], ("id", "obj"))
                             if "vision" in acts else self._images())
            if "text" in towers:
                idc, objc = (self._finish("text", towers["text"], acts["text"], ("id", "obj"))
                             if "text" in acts else self._classifiers())
            return score(idf, idc, objf, objc, self.es, self.target)
        finally:
            for name, orig in originals.items():
                self.params[name].copy_(orig)

    @torch.no_grad()
    def evaluate_uncached(self) -> dict[str, float]:
        idf, objf, idc, objc = self._features()
        return score(idf, idc, objf, objc, self.es, self.target)

# ------------------------------------------------------------------------------------------
# Partial forward passes: run a tower from the stage an edit enters, on cached activations
# ------------------------------------------------------------------------------------------

_BLOCK_PARAM = re.compile(r"^resblocks\.(\d+)\.(ln_1|attn|ls_1|ln_2|mlp|ls_2)\.")


class _Staged:
    """One CLIP tower of a standard open_clip ``CLIP`` cut into stages.

    Stage 0 embeds the raw input; stages ``1 + 2i`` and ``2 + 2i`` are the attention and MLP
    halves of residual block ``i``; stage ``1 + 2L`` is the final LayerNorm and pooling and
    ``2 + 2L`` the projection. An edit of a parameter used first by stage ``s`` leaves the
    activations entering ``s`` unchanged, so they are cached once per layer and only stages
    ``s..`` run per search iteration. Everything runs through the model's own modules.

    Exact shortcuts (the features equal the full forward up to float rounding):
    - pooling selects one token (vision class token, text EOT) and the final LayerNorm, the
      MLP and the residuals act per token, so after the last block's attention keys and values
      only the pooled token is carried;
    - text attention is causal and pooling takes the EOT token, so tokens after the longest
      prompt's EOT cannot change any feature and are dropped.
    """

    def __init__(self, blocks, prefix: str, batch_size: int):
        self.blocks, self.prefix, self.L, self.batch_size = blocks, prefix, len(blocks), batch_size

    @property
    def n_stages(self) -> int:
        return 3 + 2 * self.L  # the last value means "finished": normalised features

    def stage_of(self, name: str) -> int:
        rel = name[len(self.prefix):]
        m = _BLOCK_PARAM.match(rel.replace("transformer.", "", 1))
        if m:
            return 1 + 2 * int(m.group(1)) + (0 if m.group(2) in ("ln_1", "attn", "ls_1") else 1)
        return self._head_stage(rel)

    def _head_stage(self, rel: str) -> int:
        raise NotImplementedError

    # the per-tower pieces
    def _embed(self, x, aux):
        raise NotImplementedError

    def _mask(self, aux):
        return None

    def _select(self, x, aux):
        """The pooled token's rows [N, 1, W] of full token activations."""
        raise NotImplementedError

    def _pool_norm(self, x, aux):
        raise NotImplementedError

    def _project(self, pooled):
        raise NotImplementedError

    def advance(self, x: torch.Tensor, aux, start: int, stop: int) -> torch.Tensor:
        """Activations entering ``stop`` from those entering ``start`` (``stop = n_stages``: features)."""
        s, last = start, self.L - 1
        if s == 0 and s < stop:
            x, s = self._embed(x, aux), 1
        mask = self._mask(aux)
        while s < stop and s <= 2 * self.L:
            i, half = divmod(s - 1, 2)
            blk = self.blocks[i]
            if half == 0:
                h = blk.ln_1(x)
                if i == last:  # only the pooled token's query matters from here on
                    q, qm = self._select(h, aux), self._select_mask(mask, aux)
                    x = self._select(x, aux) + blk.ls_1(blk.attention(q_x=q, k_x=h, v_x=h, attn_mask=qm))
                else:
                    x = x + blk.ls_1(blk.attention(q_x=h, attn_mask=mask))
            else:
                x = x + blk.ls_2(blk.mlp(blk.ln_2(x)))
            s += 1
        if s < stop and s == 1 + 2 * self.L:
            x = self._pool_norm(x, aux)
            s += 1
        if s < stop and s == 2 + 2 * self.L:
            x = F.normalize(self._project(x), dim=-1)
            s += 1
        return x

    def _select_mask(self, mask, aux):
        return None


class _StagedVision(_Staged):
    def __init__(self, visual, batch_size: int):
        super().__init__(visual.transformer.resblocks, "visual.", batch_size)
        self.v = visual

    @staticmethod
    def supports(model) -> bool:
        from open_clip.transformer import ResidualAttentionBlock, VisionTransformer

        v = getattr(model, "visual", None)
        return (isinstance(v, VisionTransformer) and v.attn_pool is None and v.pool_type == "tok"
                and getattr(v.transformer, "batch_first", False) and not v.output_tokens
                and all(type(b) is ResidualAttentionBlock and not hasattr(b, "ln_1_kv")
                        for b in v.transformer.resblocks))

    def _head_stage(self, rel: str) -> int:
        if rel == "proj":
            return 2 + 2 * self.L
        if rel.startswith("ln_post."):
            return 1 + 2 * self.L
        return 0  # conv1, class/positional embedding, ln_pre, anything unknown: the whole tower

    def _embed(self, x, aux):
        return self.v._embeds(x)

    def _select(self, x, aux):
        return x[:, :1]

    def _pool_norm(self, x, aux):
        return self.v.ln_post(x[:, 0])  # LayerNorm is per token: ln_post(x)[:, 0] == ln_post(x[:, 0])

    def _project(self, pooled):
        return pooled @ self.v.proj if self.v.proj is not None else pooled


class _StagedText(_Staged):
    def __init__(self, model, batch_size: int):
        super().__init__(model.transformer.resblocks, "", batch_size)
        self.m = model

    @staticmethod
    def supports(model) -> bool:
        from open_clip.model import CLIP
        from open_clip.transformer import ResidualAttentionBlock

        if not isinstance(model, CLIP) or model.text_pool_type != "argmax" or model.attn_mask is None:
            return False
        n = model.attn_mask.shape[0]
        causal = torch.full((n, n), float("-inf")).triu_(1)
        return (getattr(model.transformer, "batch_first", False) and torch.equal(model.attn_mask.cpu(), causal)
                and all(type(b) is ResidualAttentionBlock and not hasattr(b, "ln_1_kv")
                        for b in model.transformer.resblocks))

    def stage_of(self, name: str) -> int:
        if not name.startswith("transformer."):
            return self._head_stage(name)
        return super().stage_of(name)

    def _head_stage(self, rel: str) -> int:
        if rel == "text_projection" or rel.startswith("text_projection."):
            return 2 + 2 * self.L
        if rel.startswith("ln_final."):
            return 1 + 2 * self.L
        return 0  # token/positional embedding, anything unknown: the whole tower

    def _embed(self, tokens, aux):
        cast = self.m.transformer.get_cast_dtype()
        T = tokens.shape[1]
        x = self.m.token_embedding(tokens).to(cast)
        return x + self.m.positional_embedding[:T].to(cast)

    def _mask(self, aux):
        T = aux["T"]
        return self.m.attn_mask[:T, :T]

    def _select(self, x, aux):
        return x[torch.arange(x.shape[0], device=x.device), aux["eot"]][:, None]

    def _select_mask(self, mask, aux):
        # causal: the EOT query at position p sees keys 0..p; [N * heads, 1, T] additive mask
        rows = mask[aux["eot"]][:, None, :]
        return rows.repeat_interleave(self.blocks[-1].attn.num_heads, dim=0).to(mask.dtype)

    def _pool_norm(self, x, aux):
        return self.m.ln_final(x[:, 0])  # x holds the EOT token only (see advance)

    def _project(self, pooled):
        proj = self.m.text_projection
        if proj is None:
            return pooled
        return proj(pooled) if isinstance(proj, torch.nn.Linear) else pooled @ proj


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
def cosine_matrix(model: torch.nn.Module, tokenizer: Callable, es: EvalSet, names: Sequence[str]) -> np.ndarray:
    """[image identity x name] mean cosine similarity between each identity's images and "{name}."."""
    idx = [es.target_index(n) for n in names]
    txt = F.normalize(build_classifier(model, classifier_tokens(tokenizer, list(names), IDENTITY_TEMPLATES), 1), dim=-1)
    rows = []
    for i in idx:
        feats = encode_images(model, es.id_images[es.id_labels == i])
        rows.append((feats @ txt.T).mean(0).numpy())
    return np.stack(rows)
