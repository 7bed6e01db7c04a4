"""slug-pipeline's library: SLUG (Single Layer Unlearning Gradient) without Snakemake.

The names a notebook needs, loaded on first use (``import slug`` stays light)::

    bundle = slug.load_clip("ViT-B-32-quickgelu", "laion400m_e32")
    g_f = slug.forget_gradient(model, images, tokens, names)     # and slug.retain_gradient
    layers = slug.layer_scores(params, g_f, g_r)                 # importance, alignment, on_front
    out = slug.run_search(evaluator, params, g_f, slug.candidates(layers, ["vision", "text"]), ...)

See the README's "Library" section for a whole run. Packages by role: ``slug.search`` (the step
search every family runs), ``slug.gradients``, ``slug.ranking``, ``slug.evaluation`` (CLIP),
``slug.diffusion`` (Stable Diffusion), ``slug.baselines``, ``slug.data``, ``slug.world`` (the demo world),
``slug.report``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "load_clip": "slug.models", "load_model": "slug.models", "ClipBundle": "slug.models",
    "load_pairs": "slug.data", "ImageStore": "slug.data",
    "candidate_names": "slug.gradients", "forget_gradient": "slug.gradients", "retain_gradient": "slug.gradients",
    "layer_scores": "slug.ranking", "pareto_front": "slug.ranking", "candidates": "slug.ranking",
    "Criterion": "slug.search", "run_search": "slug.search", "make_delta": "slug.search",
    "selection_record": "slug.search", "SearchOutcome": "slug.search",
    "apply_deltas": "slug.unlearn",
    "EvalSet": "slug.evaluation", "load_eval_set": "slug.evaluation", "CachedEvaluator": "slug.evaluation",
    "score": "slug.evaluation", "bootstrap_change": "slug.evaluation",
    "run_baseline": "slug.baselines", "BaselineConfig": "slug.baselines",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'slug' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
