"""Figures (seaborn/matplotlib, written atomically as PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from slug.io import atomic_path  # noqa: E402
from slug.concepts import RETAIN_TOP1  # noqa: E402
from slug.core.ranking import short_name  # noqa: E402


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def pareto_plot(df: pd.DataFrame, tower: str, path: str | Path, title: str = "") -> None:
    """Log-log scatter of alignment (x) vs importance (y); front layers coloured and labelled."""
    sub = df[df.tower == tower].copy()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    if sub.empty:
        ax.text(0.5, 0.5, f"no candidate layers in the {tower} tower", ha="center", va="center")
    else:
        sub["layer "] = [short_name(n) if f else "other" for n, f in zip(sub.layer, sub.on_front)]
        rest = sub[~sub.on_front]
        ax.scatter(rest.alignment.clip(lower=1e-8), rest.importance, marker="x", color="0.3", s=22, label="other layers")
        front = sub[sub.on_front].sort_values("alignment")
        sns.scatterplot(data=front.assign(alignment=front.alignment.clip(lower=1e-8)), x="alignment", y="importance",
                        hue="layer ", s=70, ax=ax, palette="tab10", edgecolor="black")
        ax.plot(front.alignment.clip(lower=1e-8), front.importance, color="tab:red", lw=0.8, alpha=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.legend(fontsize=7, loc="best", title="Pareto front", title_fontsize=8)
    ax.set_xlabel("gradient alignment |cos(g_forget, g_retain)|")
    ax.set_ylabel("importance ||g_forget|| / ||theta||")
    ax.set_title(title or f"{tower} tower")
    _save(fig, path)


def cosine_plot(before: np.ndarray, after: np.ndarray, names: Sequence[str], path: str | Path,
                prompts: str = "'{name}.'") -> None:
    """Side-by-side heatmaps of the image x name cosine matrices before and after unlearning (``prompts``:
    the text side, as the x-axis names it)."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"wspace": 0.55})
    vmin, vmax = float(min(before.min(), after.min())), float(max(before.max(), after.max()))
    for ax, mat, title in zip(axes, (before, after), ("original", "unlearned")):
        sns.heatmap(pd.DataFrame(mat, index=names, columns=names), annot=True, fmt=".2f", cmap="viridis",
                    vmin=vmin, vmax=vmax, ax=ax, cbar=ax is axes[1], annot_kws={"size": 8})
        ax.set_xlabel(f"text: {prompts}")
        ax.set_ylabel("images of")
        ax.set_title(title)
        ax.tick_params(axis="x", labelrotation=35)
    _save(fig, path)


def search_trace_plot(trials: pd.DataFrame, chosen_layer: str, criterion_metric: str, path: str | Path) -> None:
    """Metrics against rho for every searched layer (the chosen layer emphasised)."""
    metrics = [criterion_metric, *(k for k in RETAIN_TOP1 if k in trials)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), sharex=True)
    for ax, metric in zip(axes, metrics):
        for layer, g in trials.groupby("layer"):
            g = g.dropna(subset=[metric]).sort_values("rho")  # NaN: retain sets not evaluated (failing trial)
            chosen = layer == chosen_layer
            ax.plot(g.rho, g[metric], marker="o", ms=3 if not chosen else 5, lw=2.2 if chosen else 0.8,
                    alpha=1.0 if chosen else 0.45, label=short_name(layer) + (" (chosen)" if chosen else ""))
        ax.set_xscale("log")
        ax.set_xlabel("rho = lambda ||g|| / ||theta||")
        ax.set_title(metric)
    axes[0].legend(fontsize=6, loc="best")
    _save(fig, path)


def vlm_examples_plot(examples: pd.DataFrame, images: Sequence[np.ndarray], path: str | Path, per_row: int = 4) -> None:
    """The examples table as a figure: each image with the question and the VLM's answers before and after."""
    import textwrap

    n = max(1, len(examples))
    rows = (n + per_row - 1) // per_row
    fig, axes = plt.subplots(rows, per_row, figsize=(3.3 * per_row, 3.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (_, r), img in zip(axes.flat, examples.iterrows(), images):
        ax.imshow(img)
        colour = "tab:red" if r["is_target"] else "black"
        ax.set_title(f"{r['class']}" + (" (concept)" if r["is_target"] else ""), fontsize=9, color=colour)
        wrap = lambda s: "\n".join(textwrap.wrap(str(s), 34)) or "(empty)"  # noqa: E731
        ax.text(0.5, -0.04, f"Q: {wrap(r['question'])}\nbefore: {wrap(r['before'])}\nafter: {wrap(r['after'])}",
                transform=ax.transAxes, ha="center", va="top", fontsize=7.5)
    fig.subplots_adjust(hspace=0.9)
    _save(fig, path)
