"""Stable Diffusion results in the formats diffusers and transformers users load with one line.

- :func:`export_text_encoder`: the unlearned text encoder as a Hugging Face folder (``config.json`` +
  ``model.safetensors``) for ``CLIPTextModel.from_pretrained``, which goes into
  ``StableDiffusionPipeline.from_pretrained(base, text_encoder=...)``;
- :func:`export_pipeline`: a whole pipeline as a diffusers folder (the demo's base pipeline, so that
  the demo's results load exactly as a real pipeline's do);
- :func:`text_encoder_delta`: the edit as a delta file in the text encoder's own names, with the checksum
  of the base tensors it was computed on.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Mapping

import torch

from slug.clip.hf import apply_text_edit, check_edit
from slug.export.formats import delta_metadata, tensors_sha256, write_delta
from slug.io import atomic_dir


#: The provenance file beside an exported model's config.json (transformers ignores it).
PROVENANCE = "slug.json"
#: The delta metadata an exported text encoder's ``slug.json`` repeats.
PROVENANCE_KEYS = ("concept", "display_name", "kind", "method", "layer", "lambda", "rho", "base_model",
                   "base_edited_tensors", "base_edited_sha256", "dtype")


def export_text_encoder(text_encoder, edit: Mapping[str, torch.Tensor], out_dir: str | Path,
                        clip_skip: int | None = None, provenance: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Write ``text_encoder`` with the open_clip-named ``edit`` added as a Hugging Face folder (the encoder
    passed in is not changed), in its own dtype, with ``slug.json`` (``provenance`` and the checksums).
    Returns the edited tensors' checksums: ``{"base": ..., "edited": ...}``."""
    enc = copy.deepcopy(text_encoder).to("cpu")
    hf = check_edit(dict(edit), enc, clip_skip)
    params = dict(enc.named_parameters())
    base_sha = tensors_sha256(params, list(hf))
    apply_text_edit(enc, dict(edit), clip_skip)
    sums = {"base": base_sha, "edited": tensors_sha256(dict(enc.named_parameters()), list(hf))}
    save_text_encoder(enc, out_dir, {**(provenance or {}), "edited_sha256": sums["edited"]})
    return sums


def save_text_encoder(encoder, out_dir: str | Path, provenance: Mapping[str, Any]) -> None:
    """``save_pretrained`` (safetensors) into a folder that appears complete or not at all, with ``slug.json``:
    ``provenance`` and the checksum of every tensor."""
    with atomic_dir(out_dir) as tmp:
        encoder.save_pretrained(tmp, safe_serialization=True)
        record = {"format": "slug-model", "library": "transformers", **provenance,
                  "model_sha256": tensors_sha256(dict(encoder.state_dict()))}
        (tmp / PROVENANCE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def export_pipeline(pipe, out_dir: str | Path) -> None:
    """A ``StableDiffusionPipeline`` as a diffusers folder (safetensors weights), complete or absent."""
    with atomic_dir(out_dir) as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)


def text_encoder_delta(text_encoder, edit: Mapping[str, torch.Tensor], path: str | Path, selection: Mapping[str, Any],
                       base_model: Mapping[str, Any], clip_skip: int | None = None) -> dict[str, Any]:
    """Write the edit as a ``diffusers-text-encoder`` delta file: the text encoder's own tensor names (q, k
    and v split as ``CLIPTextModel`` stores them), the base's checksum of those tensors, and the open_clip
    layer it came from. Returns the metadata."""
    hf = check_edit(dict(edit), text_encoder, clip_skip)
    params = {k: v.detach() for k, v in text_encoder.named_parameters()}
    dtype = str(next(iter(params.values())).dtype).removeprefix("torch.")  # apply it in this dtype, as evaluated
    meta = delta_metadata("diffusers-text-encoder", hf, params, base_model, selection,
                          open_clip_layers=list(edit), clip_skip=clip_skip, dtype=dtype)
    write_delta(path, hf, meta)
    return meta
