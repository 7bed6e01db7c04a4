"""Vision-language models: a SLUG edit of one layer of a LLaVA's CLIP vision tower.

- :mod:`slug.vlm.hf`: open_clip vision names <-> ``CLIPVisionModel`` names, conversion, the edit carried
  into a tower, and the refusal of edits a LLaVA never reads (``vision_feature_layer = -2``);
- :mod:`slug.vlm.model`: the demo LLaVA built from a config, its tokenizer, LLaVA's prompt, greedy answers;
- :mod:`slug.vlm.data`: questions and answers per kind, the instruction set, answer scoring (name match, ROUGE-L);
- :mod:`slug.vlm.train`: training the projector and language model with the tower frozen;
- :mod:`slug.vlm.evaluation`: naming tasks and the :class:`VLMEvaluator` the shared step search runs.
"""

from slug.vlm.evaluation import NamingTask, VLMEvaluator, naming_tasks
from slug.vlm.hf import (VisionEditNotApplicable, apply_vision_edit, check_vision_edit, convert_vision_tower,
                         layers_read, vlm_candidates)
from slug.vlm.model import answer, demo_llava, load_vlm, save_vlm

__all__ = [
    "NamingTask",
    "VLMEvaluator",
    "VisionEditNotApplicable",
    "answer",
    "apply_vision_edit",
    "check_vision_edit",
    "convert_vision_tower",
    "demo_llava",
    "layers_read",
    "load_vlm",
    "naming_tasks",
    "save_vlm",
    "vlm_candidates",
]
