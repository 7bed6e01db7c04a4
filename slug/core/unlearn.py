"""The unlearned model: a single-layer delta, applied on top of the original weights."""

from __future__ import annotations

import torch


def single_layer_delta(theta: torch.Tensor, grad: torch.Tensor, lam: float) -> torch.Tensor:
    """``-lambda * g``: one step against the forget gradient (lambda > 0)."""
    if lam < 0:
        raise ValueError(f"lambda must be >= 0 (the step is -lambda * g_forget), got {lam}")
    if theta.shape != grad.shape:
        raise ValueError(f"gradient shape {tuple(grad.shape)} does not match the layer's {tuple(theta.shape)}")
    return (-lam * grad.float()).to(theta.dtype)


def apply_deltas(state: dict[str, torch.Tensor], deltas: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A new state dict with each delta added (deltas on the same layer add up)."""
    out = dict(state)
    for name, d in deltas.items():
        if name not in out:
            raise KeyError(f"delta for {name!r}, which the model does not have")
        if out[name].shape != d.shape:
            raise ValueError(f"delta for {name!r} has shape {tuple(d.shape)}, the layer {tuple(out[name].shape)}")
        out[name] = out[name] + d.to(out[name].device, out[name].dtype)
    return out
