"""The search's evaluator: the unedited model's features cached, each edit evaluated from the stage it enters."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from slug.clip.evaluation.sets import EvalSet
from slug.clip.evaluation.staged import _StagedText, _StagedVision
from slug.core.search import MetricSpec
from slug.clip.evaluation.tasks import Task, classifiers, eval_tasks, forget_accuracy, hits, image_features, score, task
from slug.clip.zeroshot import build_classifier, encode_images, topk_correct

class _LazyChunks:
    """``(images[i:i + bs].to(device), None)`` for each chunk, made when iterated (re-iterable): the
    float images of a whole evaluation set are never all in memory at once."""

    def __init__(self, images, bs: int, device: torch.device):
        self.images, self.bs, self.device = images, bs, device

    def __iter__(self):
        for i in range(0, len(self.images), self.bs):
            yield self.images[i : i + self.bs].to(self.device), None


class CachedEvaluator:
    """Evaluate single-layer edits fast by caching what the edited layer cannot change.

    An edit of a text-tower tensor leaves every image feature unchanged, and an edit of a
    vision-tower tensor leaves the text classifiers unchanged. Within the edited tower, the
    activations entering the stage the edit first touches (see ``_Staged``) are cached, so an
    evaluation runs only the edited block's half and what follows it. Only one depth per tower
    is cached at a time (the layer being searched): ``cache_bytes()`` reports its size.
    Results equal an uncached evaluation (tested to 1e-5). Models other than open_clip's
    standard ``CLIP`` fall back to recomputing the edited tower.

    The metrics are those of :func:`slug.clip.evaluation.tasks.score` over ``tasks`` (by default the
    evaluation set's identities and objects); ``target`` is the concept's class in ``target_task``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Callable,
        es: EvalSet,
        target: int | None,
        batch_size: int = 256,
        partial: bool = True,
        tasks: Sequence[Task] | None = None,
        target_task: str = "identities",
    ):
        self.model, self.es, self.target, self.batch_size = model, es, target, batch_size
        self.tasks = list(tasks) if tasks is not None else eval_tasks(es)
        self.spec = MetricSpec.for_tasks(self.tasks)  # what the search driver reads of the metrics
        self.tokenizer = tokenizer
        self.tokens = {t.name: t.tokens(tokenizer) for t in self.tasks}
        self._target = (target_task, target) if target is not None else None
        self._target_task = task(self.tasks, target_task) if target is not None else None
        self.params = dict(model.named_parameters())
        self.device = next(model.parameters()).device
        self._staged = {}
        if partial and _StagedVision.supports(model):
            self._staged["vision"] = _StagedVision(model.visual, batch_size)
        if partial and _StagedText.supports(model):
            self._staged["text"] = _StagedText(model, batch_size)
        self._target_mask = self._target_task.labels == target if target is not None else None
        self._cache: dict[str, tuple[int, dict]] = {}
        self._base = self._features()

    def _classifiers(self) -> dict[str, torch.Tensor]:
        return classifiers(self.model, self.tokenizer, self.tasks)

    def _features(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        return image_features(self.model, self.tasks), self._classifiers()

    def _score(self, feats: dict, clfs: dict) -> dict[str, float]:
        return score(feats, clfs, self.tasks, self._target)

    def baseline(self) -> dict[str, float]:
        return self._score(*self._base)

    def hits(self) -> dict[str, torch.Tensor]:
        """Top-1 correctness of every held-out image of every task (bool), for :func:`bootstrap_change`."""
        return hits(*self._base, self.tasks)

    # -- partial forward -----------------------------------------------------------------
    def _raw_chunks(self, tower: str) -> dict[str, list]:
        """The tower's inputs in chunks of ``batch_size``, with what each chunk needs (text: EOT)."""
        bs, out = self.batch_size, {}
        if tower == "vision":  # converted to float one chunk at a time, when iterated
            for g, x in self._image_groups().items():
                out[g] = _LazyChunks(x, bs, self.device)
        else:
            for g, tok in self.tokens.items():
                eot = tok.argmax(dim=-1)
                T = int(eot.max()) + 1  # causal attention: later tokens cannot reach the EOT token
                out[g] = [
                    (tok[i : i + bs, :T].to(self.device), {"T": T, "eot": eot[i : i + bs].to(self.device)})
                    for i in range(0, len(tok), bs)
                ]
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
        """The vision tower's inputs: every task's images, and the target's images again ("forget", a
        few dozen) so a forget-only evaluation runs on them alone."""
        groups = {t.name: t.images for t in self.tasks if t.images is not None}
        if self.target is not None:
            groups[_FORGET] = self._target_task.images[self._target_mask]
        return groups

    def _finish(self, tower: str, stage: int, acts: dict[str, list], groups: Sequence[str]) -> dict[str, torch.Tensor]:
        """Features of ``groups`` (vision: image features; text: the normalised per-class classifiers)."""
        st = self._staged[tower]
        feats = {g: torch.cat([st.advance(x, aux, stage, st.n_stages).float().cpu() for x, aux in acts[g]]) for g in groups}
        if tower == "vision":
            return feats
        n_templates = {t.name: len(t.templates) for t in self.tasks}
        return {g: F.normalize(f.view(-1, n_templates[g], f.shape[-1]).mean(1), dim=-1) for g, f in feats.items()}

    def cache_bytes(self) -> int:
        """Bytes held by the cached activations (both towers)."""
        return sum(
            x.numel() * x.element_size() for _, acts in self._cache.values() for chunks in acts.values() for x, _ in chunks
        )

    def clear_cache(self) -> None:
        self._cache.clear()

    def _forget_only(self, towers: dict[str, int], acts: dict) -> dict[str, float]:
        """``forget_top1/5`` from the target's images and its task's classifier alone."""
        feats, clfs = self._base
        tname = self._target_task.name
        fgt, clf = feats[tname][self._target_mask], clfs[tname]
        if "vision" in towers:
            fgt = (self._finish("vision", towers["vision"], acts["vision"], (_FORGET,))[_FORGET] if "vision" in acts
                   else encode_images(self.model, self._target_task.images[self._target_mask]))
        if "text" in towers:
            clf = (self._finish("text", towers["text"], acts["text"], (tname,))[tname] if "text" in acts
                   else build_classifier(self.model, self.tokens[tname], len(self._target_task.templates)))
        labels = torch.full((len(fgt),), self.target, dtype=torch.long)
        return {f"forget_top{k}": forget_accuracy(topk_correct(fgt @ clf.T, labels, k)) for k in (1, 5)}

    @torch.no_grad()
    def evaluate(self, edits: dict[str, torch.Tensor], forget_only: bool = False) -> dict[str, float]:
        """Metrics of the model with ``theta[name] += delta`` for each edit (restored afterwards).

        ``forget_only``: only ``forget_top1``/``forget_top5``, from the target's images and its task's
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
            if forget_only:
                return self._forget_only(towers, acts)
            feats, clfs = dict(self._base[0]), dict(self._base[1])
            with_images = [t.name for t in self.tasks if t.images is not None]
            if "vision" in towers:
                feats.update(self._finish("vision", towers["vision"], acts["vision"], with_images) if "vision" in acts
                             else image_features(self.model, self.tasks))
            if "text" in towers:
                clfs.update(self._finish("text", towers["text"], acts["text"], list(self.tokens)) if "text" in acts
                            else self._classifiers())
            return self._score(feats, clfs)
        finally:
            for name, orig in originals.items():
                self.params[name].copy_(orig)

    @torch.no_grad()
    def evaluate_uncached(self) -> dict[str, float]:
        return self._score(*self._features())


_FORGET = "__forget__"  # the image group of the target's images (not a task name)
