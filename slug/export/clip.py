"""CLIP results as safetensors: the unlearned model (a state dict open_clip loads with
``pretrained="model.safetensors"``) and the single-layer delta with its provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from slug.export.formats import delta_metadata, save_safetensors, tensors_sha256, write_delta


def write_clip_delta(path: str | Path, delta: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor],
                     base_model: Mapping[str, Any], selection: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """An ``open_clip``-family delta file; its metadata carries the whole base's checksum too. Returns it."""
    meta = delta_metadata("open_clip", delta, base, base_model, selection, base_sha256=tensors_sha256(base), **extra)
    write_delta(path, delta, meta)
    return meta


def write_clip_model(path: str | Path, state: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> None:
    """A full open_clip state dict as safetensors, with metadata (what it is, the base, the concept)."""
    save_safetensors(path, state, {"format": "slug-model", "library": "open_clip", **metadata})
