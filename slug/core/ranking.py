"""Layer ranking: importance, gradient alignment and the Pareto front, per tower."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import torch

from slug.core.gradients import is_layernorm, tower_of


def layer_scores(params: dict[str, torch.Tensor], g_f: dict[str, torch.Tensor], g_r: dict[str, torch.Tensor],
                 include_layernorm: bool = False) -> pd.DataFrame:
    """One row per candidate tensor present in both gradient files.

    importance = ||g_f,l|| / ||theta_l||   (Frobenius norms)
    alignment  = |cos(vec g_f,l, vec g_r,l)|
    Tensors with a zero forget gradient are dropped (they cannot move the concept).
    """
    rows = []
    for name, gf in g_f.items():
        if name not in g_r or name not in params:
            continue
        theta = params[name].detach().float()
        if theta.shape != gf.shape:
            raise ValueError(f"{name}: the forget gradient has shape {tuple(gf.shape)}, the model's tensor "
                             f"{tuple(theta.shape)}: the gradient files were computed for another model")
        if not include_layernorm and is_layernorm(name, theta):
            continue
        gr = g_r[name].float()
        gf = gf.float()
        gnorm, pnorm = float(gf.norm()), float(theta.norm())
        if gnorm == 0.0 or pnorm == 0.0:
            continue
        cos = float(torch.nn.functional.cosine_similarity(gf.flatten(), gr.flatten(), dim=0, eps=1e-12))
        rows.append({"layer": name, "tower": tower_of(name), "importance": gnorm / pnorm, "alignment": abs(cos),
                     "param_norm": pnorm, "grad_norm": gnorm, "numel": theta.numel()})
    if not rows:
        raise ValueError("no layer has both a forget and a retain gradient: the gradient files do not match the model")
    df = pd.DataFrame(rows)
    df["on_front"] = False
    for tower, idx in df.groupby("tower").groups.items():
        sub = df.loc[idx]
        df.loc[idx, "on_front"] = pareto_front(sub["importance"].to_numpy(), sub["alignment"].to_numpy())
    return df.sort_values(["tower", "on_front", "importance"], ascending=[True, False, False]).reset_index(drop=True)


def pareto_front(importance: np.ndarray, alignment: np.ndarray) -> np.ndarray:
    """Non-dominated points for (maximise importance, minimise alignment).

    Point i is dominated iff some j has importance_j >= importance_i and alignment_j <= alignment_i
    with at least one strict; exact duplicates do not dominate each other.
    """
    imp, ali = np.asarray(importance, float), np.asarray(alignment, float)
    n = len(imp)
    front = np.ones(n, dtype=bool)
    for i in range(n):
        ge = (imp >= imp[i]) & (ali <= ali[i])
        strict = (imp > imp[i]) | (ali < ali[i])
        if np.any(ge & strict):
            front[i] = False
    return front


def short_name(layer: str) -> str:
    s = re.sub(r"^(visual\.)?transformer\.resblocks\.", "", layer)
    s = re.sub(r"^visual\.", "v.", s)
    return re.sub(r"(\.weight|_weight)$", "", s)


def front_layers(df: pd.DataFrame, max_layers: int | None = None) -> list[str]:
    """The layers of ``df`` on their own Pareto front (importance, alignment), most important first; at most
    ``max_layers``."""
    front = pareto_front(df.importance.to_numpy(), df.alignment.to_numpy())
    return list(df[front].sort_values("importance", ascending=False).layer[:max_layers])


def candidates(df: pd.DataFrame, towers: list[str], max_layers: int | None = None) -> list[str]:
    """Front layers of the allowed towers, most important first (at most ``max_layers`` per tower)."""
    out = []
    for tower in towers:
        sub = df[(df.tower == tower) & df.on_front].sort_values("importance", ascending=False)
        out += list(sub.layer[:max_layers] if max_layers else sub.layer)
    return out
