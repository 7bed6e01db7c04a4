"""One-time gradients: the forget gradient g_f and the retain gradient g_r.

Conventions (one for every model; the reference mixes signs, see slug-method.md section 12):

- ``g_f = d/dtheta (1/N_f) sum_i cos(f_I(x_i), f_T(t_i))`` over the forget pairs, with their own
  captions. Unlearning steps *against* it: ``theta_l <- theta_l - lambda * g_f,l`` with lambda > 0.
- ``g_r = d/dtheta`` of the CLIP contrastive loss (open_clip ``ClipLoss``; ``SigLipLoss`` for a
  SigLIP-style model with a logit bias) over the retain set,
  each batch's mean-loss gradient weighted by its batch size and the sum divided by N.

Each batch's loss is weighted by its size over N and its gradient accumulated in fp32 (in place in
``.grad`` for fp32 weights), so the result is the exact (batch-size weighted) mean whatever the batch
size. Only the *candidate* tensors (those layer ranking may pick) require grad and are stored, which
also skips the costly token-embedding grad.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

_EXCLUDE = re.compile(r"bias|logit_scale|position|embedding")


def tower_of(name: str) -> str:
    """'vision' for image-tower parameters, 'text' for the rest (open_clip and HF naming)."""
    return "vision" if name.startswith(("visual.", "vision_model.")) or ".visual." in name else "text"


def is_layernorm(name: str, param: torch.Tensor) -> bool:
    return param.ndim == 1 and bool(re.search(r"(^|\.)(ln_\w+|ln|layer_norm\w*|norm\w*)(\.|$)", name))


def candidate_names(model: torch.nn.Module, include_layernorm: bool = True) -> list[str]:
    """Weights SLUG may edit: no biases, logit scale, positional/class/token embeddings.

    Kept: attention and MLP matrices, projections, the patch-embedding conv, and (when
    ``include_layernorm``) LayerNorm gains, as in the reference's filter.
    """
    out = []
    for n, p in model.named_parameters():
        if _EXCLUDE.search(n) or p.ndim == 0:
            continue
        if p.ndim == 1 and not (include_layernorm and is_layernorm(n, p)):
            continue
        out.append(n)
    return out


def _only_require(model: torch.nn.Module, names: Iterable[str]) -> dict[str, bool]:
    keep = set(names)
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        p.requires_grad_(n in keep)
    return before


def _accumulate(model: torch.nn.Module, names: list[str], batches, loss_fn: Callable, n_total: int,
                desc: str, progress: bool) -> dict[str, torch.Tensor]:
    params = dict(model.named_parameters())
    missing = [n for n in names if n not in params]
    if missing:
        raise KeyError(f"parameters not in the model: {missing[:5]}")
    # fp32 weights: autograd accumulates each batch's weighted gradient into .grad in place (no
    # per-batch copy or transfer); lower-precision weights: each batch is added to an fp32 CPU sum.
    in_place = all(params[n].dtype == torch.float32 for n in names)
    grads = {} if in_place else {n: torch.zeros(params[n].shape, dtype=torch.float32) for n in names}
    before = _only_require(model, names)
    was_training = model.training
    model.eval()  # no dropout in CLIP towers; eval keeps any norm statistics fixed
    try:
        model.zero_grad(set_to_none=True)
        for images, tokens in tqdm(batches, desc=desc, disable=not progress, mininterval=2.0):
            loss = loss_fn(images, tokens) * (len(images) / n_total)
            loss.backward()
            if not in_place:
                for n in names:
                    g = params[n].grad
                    if g is not None:
                        grads[n] += g.detach().float().cpu()
                model.zero_grad(set_to_none=True)
        if in_place:
            # the finiteness check runs where the gradients are (fast on a GPU), then one copy each to the host
            have = [n for n in names if params[n].grad is not None]
            ok = torch.stack([torch.isfinite(params[n].grad).all() for n in have]).cpu() if have else []
            bad = [n for n, good in zip(have, ok) if not good]
            for n in names:
                g = params[n].grad
                grads[n] = (torch.zeros(params[n].shape, dtype=torch.float32) if g is None
                            else g.detach().to("cpu", torch.float32).contiguous())
        else:
            bad = [n for n, g in grads.items() if not torch.isfinite(g).all()]
    finally:
        model.zero_grad(set_to_none=True)
        for n, p in model.named_parameters():
            p.requires_grad_(before[n])
        model.train(was_training)
    if bad:
        raise FloatingPointError(f"non-finite {desc} gradient in {bad[:5]}: check the model weights and the data")
    return grads


def _batches(images: torch.Tensor, tokens: torch.Tensor, batch_size: int, device: torch.device):
    for i in range(0, len(images), batch_size):
        yield images[i:i + batch_size].to(device), tokens[i:i + batch_size].to(device)


def forget_gradient(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor, names: list[str],
                    batch_size: int = 32, progress: bool = True) -> dict[str, torch.Tensor]:
    """Gradient of the mean matched image-text cosine similarity over the forget pairs."""
    if len(images) == 0:
        raise ValueError("the forget set is empty")
    device = next(model.parameters()).device

    def mean_cos(x, t):
        img_f, txt_f = model(x, t)[:2]
        return F.cosine_similarity(img_f, txt_f, dim=-1).mean()

    return _accumulate(model, names, _batches(images, tokens, batch_size, device), mean_cos, len(images),
                       "forget gradient", progress)


def retain_gradient(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor, names: list[str],
                    batch_size: int = 32, progress: bool = True) -> dict[str, torch.Tensor]:
    """Gradient of the model's contrastive loss over the retain pairs (batch-size weighted mean):
    ``ClipLoss``, or ``SigLipLoss`` for a SigLIP-style model (see :func:`slug.clip.models.contrastive_loss`)."""
    from slug.clip.models import contrastive_loss

    if len(images) < 2:
        raise ValueError("the retain set needs at least 2 pairs for a contrastive loss")
    device = next(model.parameters()).device
    return _accumulate(model, names, _batches(images, tokens, batch_size, device), contrastive_loss(model),
                       len(images), "retain gradient", progress)
