"""Contrastive pretraining of the demo CLIP on downloaded shards (open_clip's ``ClipLoss``, or
``SigLipLoss`` for an architecture with a logit bias)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from slug.config import schema_default


@dataclass
class PretrainConfig:
    """The config's ``pretrain`` section; defaults are the schema's (``configs/schema.yaml``)."""

    epochs: int = schema_default("pretrain", "epochs")
    batch_size: int = schema_default("pretrain", "batch_size")
    lr: float = schema_default("pretrain", "lr")
    weight_decay: float = schema_default("pretrain", "weight_decay")
    warmup_steps: int = schema_default("pretrain", "warmup_steps")
    seed: int = 0
    hflip: bool = True


@dataclass
class PretrainResult:
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    # open_clip's convention: no decay on gains, biases, embeddings-like 1-d params and logit_scale
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def pretrain_clip(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor, cfg: PretrainConfig,
                  progress: bool = True) -> PretrainResult:
    """Train ``model`` in place on in-memory pairs; returns the per-step loss trace."""
    from slug.clip.models import contrastive_loss

    if len(images) != len(tokens):
        raise ValueError(f"{len(images)} images but {len(tokens)} captions")
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    n = len(images)
    bs = min(cfg.batch_size, n)
    steps_per_epoch = n // bs
    total = max(1, steps_per_epoch * cfg.epochs)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    warm = min(cfg.warmup_steps, total // 10 + 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))
    loss_fn = contrastive_loss(model)
    model.train()
    res = PretrainResult()
    t0 = time.time()
    bar = tqdm(total=total, desc="pretrain", disable=not progress, mininterval=2.0)
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            x = images[idx].to(device)
            if cfg.hflip:
                flip = torch.rand(len(idx), generator=gen) < 0.5
                x[flip] = x[flip].flip(-1)
            loss = loss_fn(x, tokens[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            res.losses.append(loss.item())
            res.steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{res.losses[-1]:.3f}", refresh=False)
    bar.close()
    model.eval()
    res.seconds = time.time() - t0
    return res
