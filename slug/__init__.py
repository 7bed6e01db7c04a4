"""slug-pipeline's library: SLUG (Single Layer Unlearning Gradient) without Snakemake.

The names a notebook needs, loaded on first use (``import slug`` stays light)::

    bundle = slug.load_clip("ViT-B-32-quickgelu", "laion400m_e32")
    g_f = slug.forget_gradient(model, images, tokens, names)     # and slug.retain_gradient
    layers = slug.layer_scores(params, g_f, g_r)                 # importance, alignment, on_front
    out = slug.run_search(evaluator, params, g_f, slug.candidates(layers, ["vision", "text"]), ...)

See the README's "Library" section for a whole run. Packages by role, then model family: ``slug.core``
(gradients, ranking, the step search every family runs, deltas, joint re-scaling), ``slug.concepts``,
``slug.clip`` (open_clip models; ``slug.clip.evaluation``: classification tasks, the cached evaluator),
``slug.diffusion`` (Stable Diffusion), ``slug.baselines``, ``slug.data``, ``slug.world`` (the demo world),
``slug.report`` and ``slug.stages`` (each workflow rule's work as one function).
"""

from __future__ import annotations

import importlib

_MODULES = {
    "slug.clip.models": ("load_clip", "load_model", "ClipBundle"),
    "slug.data": ("load_pairs", "ImageStore"),
    "slug.core.gradients": ("candidate_names", "forget_gradient", "retain_gradient"),
    "slug.core.ranking": ("layer_scores", "pareto_front", "candidates"),
    "slug.core.search": ("Criterion", "MetricSpec", "run_search", "make_delta", "selection_record", "SearchOutcome"),
    "slug.core.unlearn": ("apply_deltas",),
    "slug.clip.evaluation": ("EvalSet", "load_eval_set", "CachedEvaluator", "Task", "eval_tasks", "score",
                             "bootstrap_change"),
    "slug.baselines": ("run_baseline", "BaselineConfig"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'slug' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
