"""Evaluation of a CLIP before and after unlearning (shared by SLUG's search, its report and baselines).

Metrics (all fractions in [0, 1] except MIA, in %):

- ``forget_top1/5``: the target's images, zero-shot over *all* identity names ("{name}.");
- ``retain_id_top1/5``: per-identity accuracy averaged over every *other* identity (the reference's
  celeba100 includes the target; we exclude it);
- ``objects_top1/5``: ImageNet-style zero-shot with the reference's 7 templates averaged;
- ``mia_mean/std``: membership inference on the matched image-text cosine, forget set (members)
  vs a non-member shard, logistic regression, repeated over seeds and splits, scaled to % once.

Modules: ``sets`` (the held-out sets), ``tasks`` (the classification tasks, the one classifier builder and
the definition of each accuracy), ``metrics`` (cosines, MIA, intervals), ``cached`` (the search's
evaluator), ``staged`` (partial forward passes of open_clip towers).
"""

from slug.clip.evaluation.cached import CachedEvaluator
from slug.clip.evaluation.metrics import bootstrap_change, cosine_matrix, matched_cosine, mia_score
from slug.clip.evaluation.sets import EvalSet, load_eval_set
from slug.clip.evaluation.tasks import Task, classifiers, eval_tasks, evaluate_model, generation_tasks, score

__all__ = ["CachedEvaluator", "EvalSet", "Task", "bootstrap_change", "classifiers", "cosine_matrix", "eval_tasks",
           "evaluate_model", "generation_tasks", "load_eval_set", "matched_cosine", "mia_score", "score"]
