"""Vision-language model results in the format transformers users load with one line.

- :func:`vision_delta`: a VLM edit as a ``transformers-llava-vision`` delta file, in the LLaVA's own
  parameter names (``model.vision_tower.encoder.layers.{i}...``, q/k/v split), with the checksum of the base
  tensors it was computed on and the dtype it was evaluated in;
- :func:`save_vlm_folder`: an (edited) LLaVA as a Hugging Face folder with its tokenizer and ``slug.json``
  provenance, for ``LlavaForConditionalGeneration.from_pretrained`` (``slug apply`` writes it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from slug.export.formats import delta_metadata, tensors_sha256, write_delta
from slug.io import atomic_dir

#: The provenance keys an edited LLaVA's ``slug.json`` repeats from its delta.
PROVENANCE_KEYS = ("concept", "display_name", "kind", "method", "layer", "lambda", "rho", "base_model",
                   "base_edited_tensors", "base_edited_sha256", "dtype", "vision_feature_layer")


def tower_prefix(vlm) -> str:
    """The LLaVA's parameter-name prefix of its vision tower (``model.vision_tower.`` in transformers >= 5)."""
    tower = vlm.model.vision_tower
    for name, module in vlm.named_modules():
        if module is tower:
            return f"{name}."
    raise ValueError("this model has no vision_tower")


def llava_names(vlm, edit: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An open_clip vision edit in the LLaVA's own parameter names (after :func:`slug.vlm.hf.check_vision_edit`)."""
    from slug.vlm.hf import check_vision_edit, to_hf_vision_state

    check_vision_edit(dict(edit), vlm.config.vision_config.num_hidden_layers, vlm.config.vision_feature_layer)
    prefix = tower_prefix(vlm)
    params = dict(vlm.named_parameters())
    out = {}
    for hf, d in to_hf_vision_state(dict(edit)).items():
        name = prefix + hf
        if name not in params:
            raise KeyError(f"{name}: not a parameter of this LLaVA")
        out[name] = d.detach().float().cpu().contiguous()
    return out


def vision_delta(vlm, edit: Mapping[str, torch.Tensor], path: str | Path, selection: Mapping[str, Any],
                 base_model: Mapping[str, Any]) -> dict[str, Any]:
    """Write the edit as a ``transformers-llava-vision`` delta file; returns its metadata."""
    delta = llava_names(vlm, edit)
    params = {k: v.detach() for k, v in vlm.named_parameters() if k in delta}
    dtype = str(next(iter(params.values())).dtype).removeprefix("torch.")
    meta = delta_metadata("transformers-llava-vision", delta, params, base_model, selection,
                          open_clip_layers=list(edit), dtype=dtype,
                          names="LlavaForConditionalGeneration.named_parameters() of transformers >= 5 "
                                "(model.vision_tower.*; the files on disk say vision_tower.vision_model.*): "
                                "slug apply loads the model first",
                          vision_feature_layer=vlm.config.vision_feature_layer)
    write_delta(path, delta, meta)
    return meta


def save_vlm_folder(vlm, tokenizer, out_dir: str | Path, provenance: Mapping[str, Any]) -> None:
    """``save_pretrained`` of the model (safetensors) and its tokenizer into a folder that appears complete or not
    at all, with ``slug.json``: ``provenance`` and the checksum of every tensor."""
    with atomic_dir(out_dir) as tmp:
        vlm.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        record = {"format": "slug-model", "library": "transformers", **provenance,
                  "model_sha256": tensors_sha256(dict(vlm.state_dict()))}
        (tmp / "slug.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
