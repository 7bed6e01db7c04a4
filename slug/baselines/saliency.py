"""The per-weight statistics two baselines rest on: SalUn's saliency mask and SSD's importances and dampening."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch

if TYPE_CHECKING:
    from slug.baselines import BaselineConfig, Pairs


def _squared_grad_mean(model: torch.nn.Module, pairs: Pairs, loss_fn: Callable, bs: int,
                       device: torch.device) -> tuple[dict[str, torch.Tensor], int]:
    """``E_b[(dL_b/dtheta)^2]`` over batches (SSD importances); returns it and the number of passes."""
    from slug.baselines import _batches

    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    imp = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
    n = 0
    for x, t in _batches(pairs, bs, torch.Generator(), device, shuffle=False):
        model.zero_grad(set_to_none=True)
        loss_fn(model, x, t).backward()
        for name, p in params.items():
            if p.grad is not None:
                imp[name] += p.grad.detach().float() ** 2
        n += 1
    model.zero_grad(set_to_none=True)
    return {k: v / max(n, 1) for k, v in imp.items()}, n


def salun_masks(grads: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """1 for the top ``fraction`` of entries by ``|g|`` over all tensors (one global ranking), else 0."""
    flat = torch.cat([g.abs().flatten().float() for g in grads.values()])
    k = max(1, int(round(fraction * flat.numel())))
    if k >= flat.numel():
        return {n: torch.ones_like(g) for n, g in grads.items()}
    threshold = torch.topk(flat, k, sorted=True).values[-1]
    masks = {n: (g.abs().float() >= threshold).to(g.dtype) for n, g in grads.items()}
    # ties at the threshold could overshoot k; trim them deterministically so the fraction is exact
    excess = int(sum(int(m.sum()) for m in masks.values())) - k
    if excess > 0:
        for n, g in grads.items():
            if excess <= 0:
                break
            tie = ((g.abs().float() == threshold) & masks[n].bool()).flatten().nonzero().flatten()
            drop = tie[:excess]
            masks[n].view(-1)[drop] = 0
            excess -= len(drop)
    return masks


def ssd_dampen(params: dict[str, torch.Tensor], imp_f: dict[str, torch.Tensor], imp_r: dict[str, torch.Tensor],
               alpha: float, lam: float) -> dict[str, torch.Tensor]:
    """SSD on a copy: where ``imp_f > alpha * imp_r`` scale by ``min(1, lam * imp_r / imp_f)``.

    Tensors with a single element (the logit scale) are left alone, as in the reference. Returns the new
    tensors of the parameters it changed.
    """
    out = {}
    for n, theta in params.items():
        if theta.numel() <= 1 or n not in imp_f:
            continue
        f, r = imp_f[n], imp_r[n]
        sel = f > alpha * r
        if not bool(sel.any()):
            continue
        factor = torch.where(sel, torch.clamp(lam * r / f.clamp_min(1e-30), max=1.0), torch.ones_like(f))
        out[n] = (theta.float() * factor).to(theta.dtype)
    return out


def ssd_lambdas(cfg: BaselineConfig) -> list[float]:
    """The dampening sweep, mild to strong (geometric: lambda spans decades)."""
    if cfg.max_epochs == 1:
        return [cfg.ssd_lambda_min]
    r = (cfg.ssd_lambda_min / cfg.ssd_lambda_max) ** (1.0 / (cfg.max_epochs - 1))
    return [cfg.ssd_lambda_max * r ** i for i in range(cfg.max_epochs)]
