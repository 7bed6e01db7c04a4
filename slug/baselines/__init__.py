"""Comparison methods FT, GA, GAFT, SalUn and SSD (the paper's baselines), with the reference's bugs fixed.

Every method starts from the original model, trains all parameters of both towers (as the reference)
and is judged by the same evaluation code as SLUG. One "epoch" is:

- ``ft``: one pass over the retain pairs, minimising the CLIP contrastive loss (open_clip ``ClipLoss``;
  ``SigLipLoss`` for a SigLIP-style model);
- ``ga``: one pass over the forget pairs, minimising ``-(1 - cos)`` (gradient *ascent* on the
  cosine-embedding loss of the matched pairs);
- ``gaft``: a forget pass as GA, then a retain pass as FT, as separate optimiser steps (the reference's
  sequential form);
- ``salun``: GAFT with a weight-saliency mask: the top ``fraction`` of all parameter entries by
  ``|g_f|`` (one global ranking, the forget gradient of the original model) are trained, the rest stay
  exactly frozen (their gradient is masked *and* weight decay cannot move them);
- ``ssd``: Selective Synaptic Dampening. Importances are ``E_b[(dL_b/dtheta)^2]`` on the forget set
  (``-cos`` loss) and the retain set (contrastive loss); where ``imp_f > alpha * imp_r`` the weight is
  multiplied by ``min(1, lambda * imp_r / imp_f)``. Epoch ``e`` dampens the *original* model with the
  ``e``-th lambda of a sweep from ``lambda_max`` (mild) down to ``lambda_min`` (strong), so the first
  epoch that meets the criterion is the mildest dampening that does.

Fixes against the reference (``slug-method.md`` section 12): the cosine learning-rate schedule spans the
steps this method really takes (the reference sized it from the retain loader, so GA and SalUn ran at a
constant rate); SSD does not compound dampening across epochs; SalUn's frozen entries stay frozen;
MIA is scaled once (in ``slug.clip.evaluation``).

Costs are counted the same way for every method: ``grad_steps`` is the number of forward+backward
passes (optimiser steps, and the gradient passes that SalUn's mask and SSD's importances need) and
``unlearn_s`` the wall time spent in them, evaluation excluded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from slug.config import schema_default
from slug.baselines.saliency import _squared_grad_mean, salun_masks, ssd_dampen, ssd_lambdas  # noqa: F401
from slug.clip.pretrain import param_groups  # the reference's AdamW groups, shared with pretraining



@dataclass
class BaselineConfig:
    """Hyperparameters. Defaults are the schema's, the paper's values (``run_clip_comparison.sh``:
    lr 1e-7, 10 epochs, batch 32)."""

    lr: float = schema_default("baselines", "lr")
    max_epochs: int = schema_default("baselines", "max_epochs")
    batch_size: int = schema_default("baselines", "batch_size")
    weight_decay: float = schema_default("baselines", "weight_decay")
    salun_fraction: float = schema_default("baselines", "salun", "fraction")
    ssd_alpha: float = schema_default("baselines", "ssd", "alpha")
    ssd_lambda_max: float = schema_default("baselines", "ssd", "lambda_max")
    ssd_lambda_min: float = schema_default("baselines", "ssd", "lambda_min")
    seed: int = 0

    def __post_init__(self):
        if self.lr <= 0 or self.max_epochs < 1 or self.batch_size < 1:
            raise ValueError("baselines: lr must be > 0, max_epochs >= 1 and batch_size >= 1")
        if not 0 < self.salun_fraction <= 1:
            raise ValueError(f"baselines.salun.fraction must be in (0, 1], got {self.salun_fraction}")
        if not 0 < self.ssd_lambda_min <= self.ssd_lambda_max:
            raise ValueError("baselines.ssd: need 0 < lambda_min <= lambda_max")


def hparams(section: dict, method: str) -> dict:
    """One method's ``BaselineConfig`` fields from the config's ``baselines`` section (defaults filled):
    the method's own ``lr`` over the shared one, and its own settings."""
    cls = REGISTRY.get(method)
    if cls is None:
        raise ValueError(f"unknown baseline {method!r}: choose from {', '.join(METHODS)}")
    own = section.get(method, {})
    return {"lr": own.get("lr") or section["lr"], "max_epochs": section["max_epochs"],
            "batch_size": section["batch_size"], "weight_decay": section["weight_decay"], **cls.own_hparams(own)}


@dataclass
class EpochRecord:
    epoch: int
    metrics: dict
    unlearn_s: float  # cumulative, evaluation excluded
    grad_steps: int  # cumulative forward+backward passes
    meets_criterion: bool
    info: dict = field(default_factory=dict)

    def row(self) -> dict:
        return {"epoch": self.epoch, **self.metrics, "unlearn_s": round(self.unlearn_s, 3),
                "grad_steps": self.grad_steps, "meets_criterion": self.meets_criterion, **self.info}


Pairs = tuple[torch.Tensor, torch.Tensor]


def forget_loss(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``-(1 - cos)`` averaged over matched pairs: minimising it pushes the pairs apart (GA)."""
    img_f, txt_f = model(images, tokens)[:2]
    return -(1.0 - F.cosine_similarity(img_f, txt_f, dim=-1)).mean()


def retain_loss(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The model's contrastive loss (``ClipLoss``; ``SigLipLoss`` for a SigLIP-style model)."""
    from slug.clip.models import contrastive_loss

    return contrastive_loss(model)(images, tokens)


def _n_batches(n: int, bs: int) -> int:
    return math.ceil(n / bs)


def _batches(pairs: Pairs, bs: int, gen: torch.Generator, device: torch.device, shuffle: bool = True):
    images, tokens = pairs
    order = torch.randperm(len(images), generator=gen) if shuffle else torch.arange(len(images))
    for i in range(0, len(images), bs):
        idx = order[i:i + bs]
        yield images[idx].to(device), tokens[idx].to(device)


class _Trainer:
    """AdamW (betas 0.9/0.98, eps 1e-6) with a cosine schedule over this method's own step count."""

    def __init__(self, model: torch.nn.Module, cfg: BaselineConfig, total_steps: int,
                 masks: dict[str, torch.Tensor] | None = None):
        self.model, self.masks = model, masks or {}
        self.params = dict(model.named_parameters())
        # entries outside a mask never change, so their original values are kept once, not per step
        self.frozen = {n: self.params[n].detach().clone() for n in self.masks}
        self.opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=max(1, total_steps))
        self.steps = 0

    def step(self, loss: torch.Tensor) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        for n, m in self.masks.items():
            p = self.params[n]
            if p.grad is not None:
                p.grad.mul_(m)
        self.opt.step()
        self.sched.step()
        with torch.no_grad():
            for n, m in self.masks.items():  # weight decay must not move the frozen entries either
                self.params[n].copy_(torch.where(m.bool(), self.params[n], self.frozen[n]))
            if hasattr(self.model, "logit_scale"):
                self.model.logit_scale.clamp_(0, math.log(100))
        self.steps += 1
        return float(loss.detach())


# --------------------------------------------------------------------------------------------
# The methods: one class each, in a registry the config check, the rules and the scripts read
# --------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """What an epoch of any method works on."""

    model: torch.nn.Module
    forget: Pairs
    retain: Pairs
    cfg: BaselineConfig
    gen: torch.Generator
    device: torch.device
    passes: int = 0

    @property
    def n_forget_batches(self) -> int:
        return _n_batches(len(self.forget[0]), self.cfg.batch_size)

    @property
    def n_retain_batches(self) -> int:
        return _n_batches(len(self.retain[0]), self.cfg.batch_size)


class Baseline:
    """A fine-tuning method: per epoch, a pass over the forget pairs (GA's loss) and/or the retain pairs
    (the contrastive loss), one AdamW step per batch with a cosine schedule over its own step count."""

    name: str = ""
    forget_pass: bool = False
    retain_pass: bool = False

    def __init__(self) -> None:
        self.trainer: _Trainer | None = None

    @property
    def needs_retain(self) -> bool:
        return self.retain_pass

    @staticmethod
    def own_hparams(own: dict) -> dict:
        """This method's own ``BaselineConfig`` fields from its config section."""
        return {}

    def masks(self, run: _Run) -> dict[str, torch.Tensor] | None:
        return None

    def epoch(self, run: _Run, epoch: int) -> dict:
        if self.trainer is None:
            per_epoch = (run.n_forget_batches if self.forget_pass else 0) + (run.n_retain_batches if self.retain_pass else 0)
            self.trainer = _Trainer(run.model, run.cfg, per_epoch * run.cfg.max_epochs, self.masks(run))
        bs, model = run.cfg.batch_size, run.model
        model.train()
        losses = []
        if self.forget_pass:
            losses += [self.trainer.step(forget_loss(model, x, t)) for x, t in _batches(run.forget, bs, run.gen, run.device)]
        if self.retain_pass:
            losses += [self.trainer.step(retain_loss(model, x, t)) for x, t in _batches(run.retain, bs, run.gen, run.device)]
        model.eval()
        run.passes += len(losses)
        return {"lr": self.trainer.opt.param_groups[0]["lr"], "mean_loss": sum(losses) / len(losses)}


class FT(Baseline):
    name, retain_pass = "ft", True


class GA(Baseline):
    name, forget_pass = "ga", True


class GAFT(Baseline):
    name, forget_pass, retain_pass = "gaft", True, True


class SalUn(GAFT):
    """GAFT on the top ``salun_fraction`` of entries by |forget gradient| of the original model."""

    name = "salun"

    @staticmethod
    def own_hparams(own: dict) -> dict:
        return {"salun_fraction": own["fraction"]}

    def masks(self, run: _Run) -> dict[str, torch.Tensor]:
        from slug.core.gradients import forget_gradient

        names = [n for n, p in run.model.named_parameters() if p.requires_grad]
        g = forget_gradient(run.model, *run.forget, names, batch_size=run.cfg.batch_size, progress=False)
        run.passes += run.n_forget_batches
        return {n: m.to(run.device) for n, m in salun_masks(g, run.cfg.salun_fraction).items()}


class SSD(Baseline):
    """Selective Synaptic Dampening of the original model, one lambda of the sweep per epoch."""

    name = "ssd"

    def __init__(self) -> None:
        super().__init__()
        self.imp_f = self.imp_r = self.original = None

    @property
    def needs_retain(self) -> bool:
        return True  # the retain importances

    @staticmethod
    def own_hparams(own: dict) -> dict:
        return {"ssd_alpha": own["alpha"], "ssd_lambda_max": own["lambda_max"], "ssd_lambda_min": own["lambda_min"]}

    def epoch(self, run: _Run, epoch: int) -> dict:
        model, bs = run.model, run.cfg.batch_size
        if self.imp_f is None:
            self.imp_f, n1 = _squared_grad_mean(model, run.forget, forget_loss, bs, run.device)
            self.imp_r, n2 = _squared_grad_mean(model, run.retain, retain_loss, bs, run.device)
            run.passes += n1 + n2
            self.original = {n: p.detach().clone() for n, p in model.named_parameters()}
        lam = ssd_lambdas(run.cfg)[epoch - 1]
        new = ssd_dampen(self.original, self.imp_f, self.imp_r, run.cfg.ssd_alpha, lam)
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(new.get(n, self.original[n]))
        n_sel = sum(int((self.imp_f[n] > run.cfg.ssd_alpha * self.imp_r[n]).sum()) for n in new)
        return {"lambda": lam, "dampened_entries": n_sel}


REGISTRY: dict[str, type[Baseline]] = {cls.name: cls for cls in (FT, GA, GAFT, SalUn, SSD)}
METHODS: tuple[str, ...] = tuple(REGISTRY)


def method(name: str) -> Baseline:
    """A new instance of the method ``name`` (an error lists the registry)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown baseline {name!r}: choose from {', '.join(METHODS)}")
    return REGISTRY[name]()


def run_baseline(name: str, model: torch.nn.Module, forget: Pairs, retain: Pairs, cfg: BaselineConfig,
                 evaluate: Callable[[torch.nn.Module], dict], meets: Callable[[dict], bool],
                 log: Callable[[str], None] | None = None) -> list[EpochRecord]:
    """Unlearn with the method ``name`` in place until ``meets(evaluate(model))`` or ``cfg.max_epochs`` epochs.

    Returns one record per epoch, epoch 0 being the original model. On return the model holds the
    weights of the last epoch run (the first that met the criterion, or the last one).
    """
    m_ = method(name)
    if len(forget[0]) == 0:
        raise ValueError("the forget set is empty")
    if m_.needs_retain and len(retain[0]) < 2:
        raise ValueError(f"{name} needs at least 2 retain pairs")
    run = _Run(model, forget, retain, cfg, torch.Generator().manual_seed(cfg.seed), next(model.parameters()).device)
    torch.manual_seed(cfg.seed)
    say = log or (lambda _msg: None)

    model.eval()
    records = [EpochRecord(0, evaluate(model), 0.0, 0, False)]
    records[0].meets_criterion = bool(meets(records[0].metrics))
    if records[0].meets_criterion:
        say("the original model already meets the criterion: nothing to unlearn")
        return records
    seconds = 0.0
    for epoch in range(1, cfg.max_epochs + 1):
        t0 = time.perf_counter()
        info = m_.epoch(run, epoch)
        seconds += time.perf_counter() - t0
        m = evaluate(model)
        ok = bool(meets(m))
        records.append(EpochRecord(epoch, m, seconds, run.passes, ok, info))
        say(f"{name} epoch {epoch}: forget_top1={m['forget_top1']:.3f} forget_top5={m['forget_top5']:.3f} "
            f"retain_id_top1={m['retain_id_top1']:.3f} objects_top1={m['objects_top1']:.3f} "
            f"{seconds:.1f}s {run.passes} passes {'PASS' if ok else ''}")
        if ok:
            break
    return records


def first_meeting(records: list[EpochRecord]) -> EpochRecord:
    """The record a comparison reports: the first epoch meeting the criterion, else the last one."""
    return next((r for r in records if r.meets_criterion), records[-1])


def evaluate_model(model: torch.nn.Module, tokenizer: Callable, es, target: int | None,
                   target_task: str = "identities") -> dict[str, float]:
    """Full (uncached) evaluation with the metrics SLUG's search and report use (``slug.clip.evaluation.tasks``);
    ``target`` is the concept's class in ``target_task``."""
    from slug.clip.evaluation.tasks import classifiers, eval_tasks, image_features, score

    tasks = eval_tasks(es)
    return score(image_features(model, tasks), classifiers(model, tokenizer, tasks), tasks,
                 (target_task, target) if target is not None else None)
