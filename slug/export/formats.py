"""safetensors files with their provenance: unlearned models and single-layer deltas.

A delta file holds ``{tensor name: delta}`` and, in the safetensors header's string metadata, what a
user needs to apply it safely: the family (``open_clip`` names, or ``diffusers-text-encoder``: open_clip
text-tower names carried into a Hugging Face ``CLIPTextModel``), the base model, checksums of the base
(the whole state and the edited tensors), the layer, lambda and rho, the concept and its kind. The
checksums are of the tensors' values, not of a file, so that the same weights saved as ``.pt`` or as
``.safetensors`` (or downloaded in another container) are recognised as the same base.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import torch

from slug.io import atomic_path

#: ``format`` of every delta file this module writes (and the only one :func:`read_delta` accepts).
DELTA_FORMAT = "slug-delta"
DELTA_VERSION = "1"
FAMILIES = ("open_clip", "diffusers-text-encoder", "transformers-llava-vision")


def tensors_sha256(state: Mapping[str, torch.Tensor], names: list[str] | None = None) -> str:
    """slug's checksum of tensor values (not a file's sha256): name, shape and values of each tensor, in name
    order; floating tensors hashed as float32, so that float16 weights and the same weights loaded upcast to
    float32 (as some transformers versions load them) match.

    Independent of the container (``.pt``, ``.safetensors``), of the device and of memory layout.
    ``slug inspect`` prints it."""
    h = hashlib.sha256()
    for name in sorted(state if names is None else names):
        t = state[name].detach().cpu()
        if t.is_floating_point() and t.dtype != torch.float64:
            t = t.float()
        t = t.contiguous()
        h.update(f"{name}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _plain(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, and no two tensors sharing storage (safetensors refuses aliases: they are copied)."""
    out, seen = {}, set()
    for k, v in tensors.items():
        t = v.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr()
        if t.numel() and ptr in seen:
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        out[k] = t
    return out


def save_safetensors(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any] | None = None
                     ) -> None:
    """Write ``tensors`` as safetensors, atomically; every metadata value is stored as JSON (a name such as
    "1984" stays a string), :func:`decode_metadata` reads it back."""
    from safetensors.torch import save_file

    meta = {k: json.dumps(v, sort_keys=True) for k, v in (metadata or {}).items()}
    with atomic_path(path) as tmp:
        save_file(_plain(tensors), str(tmp), metadata=meta or None)


def decode_metadata(raw: Mapping[str, str]) -> dict[str, Any]:
    """A safetensors header's metadata with each value JSON-decoded (a value that is not JSON, as in
    files other tools wrote, stays the string it is)."""
    out: dict[str, Any] = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the header's metadata of a safetensors file (a clear error for a damaged one)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable safetensors file ({e}); re-create it with this pipeline") from None
    return tensors, meta


def delta_metadata(family: str, delta: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor],
                   base_model: Mapping[str, Any], selection: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The header of a delta file. ``base``: the base's tensors in the names the delta uses (for
    ``diffusers-text-encoder``, the text encoder's own names of the edited tensors)."""
    if family not in FAMILIES:
        raise ValueError(f"family {family!r}: use one of {', '.join(FAMILIES)}")
    edited = list(extra.pop("base_names", None) or delta)
    return {
        "format": DELTA_FORMAT, "format_version": DELTA_VERSION, "family": family, "method": "SLUG",
        "concept": selection.get("concept"), "display_name": selection.get("display_name"),
        "kind": selection.get("kind", "person"), "layer": selection.get("layer"),
        "lambda": selection.get("lambda"), "rho": selection.get("rho"),
        "base_model": dict(base_model),
        "base_edited_sha256": tensors_sha256(base, edited),
        "base_edited_tensors": edited,
        "update": "theta[name] <- theta[name] + delta[name] (delta = -lambda * g_forget)",
        **extra,
    }


def write_delta(path: str | Path, delta: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> None:
    save_safetensors(path, delta, metadata)


def read_delta(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A delta file's tensors and metadata (JSON values decoded); a file of another format is refused."""
    tensors, raw = read_safetensors(path)
    meta = decode_metadata(raw)
    if meta.get("format") != DELTA_FORMAT:
        raise ValueError(f"{path}: not a SLUG delta (its metadata has format={meta.get('format')!r}, expected "
                         f"{DELTA_FORMAT!r}); `slug inspect {path}` shows what it holds")
    return tensors, meta


class BaseMismatch(ValueError):
    """The model a delta is applied to is not the one it was computed on."""


def check_base(meta: Mapping[str, Any], base: Mapping[str, torch.Tensor], where: str = "the base model") -> None:
    """Refuse a base whose edited tensors differ from those the delta was computed on."""
    names = list(meta["base_edited_tensors"])
    missing = [n for n in names if n not in base]
    if missing:
        raise BaseMismatch(f"{where} has no tensor {', '.join(missing)}: the delta was computed on "
                           f"{describe_base(meta)}, a model of another architecture")
    got = tensors_sha256(base, names)
    if got != meta["base_edited_sha256"]:
        shapes = {n: tuple(base[n].shape) for n in names}
        raise BaseMismatch(
            f"{where} is not the model this delta was computed on: its {', '.join(names)} (shape "
            f"{', '.join(map(str, shapes.values()))}) has checksum {got[:12]}…, the delta's base "
            f"{meta['base_edited_sha256'][:12]}… ({describe_base(meta)}). A SLUG step is only meaningful on the "
            "weights its gradient was computed on: apply it to that base")


def describe_base(meta: Mapping[str, Any]) -> str:
    b = meta.get("base_model") or {}
    if isinstance(b, Mapping):
        return ", ".join(f"{k} {v}" for k, v in b.items() if isinstance(v, (str, int, float)) and v != "")
    return str(b)
