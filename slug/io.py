"""Safe, atomic file I/O: every artifact appears complete or not at all."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch

_UMASK = os.umask(0o022)  # read once (os.umask can only be read by setting it) and put back
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.{'?' * 8}.tmp"):  # a killed writer's (mkstemp: 8 chars)
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide results from a shared group
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; it replaces ``path`` only if the block succeeds
    (a folder output, e.g. a ``save_pretrained``, appears complete or not at all)."""
    import shutil

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_tsv(path: str | Path, table, float_format: str | None = "%.6g") -> None:
    """A pandas table as a tab-separated file (no index; floats to 6 significant digits), atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format=float_format)


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """torch.save through a buffer: the zip's inner folder name then never depends on the temp file name,
    so the same tensors always give the same bytes (checksums in selection.json are reproducible)."""
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError (and others) for unsafe or corrupt files
        raise ValueError(f"{path}: refused to load: not a plain tensor file readable with weights_only=True "
                         f"({type(e).__name__}: {str(e).splitlines()[0][:200]}). Re-create it with this pipeline; "
                         "never load .pt files from untrusted sources with weights_only=False") from None


def load_tensor_dict(path: str | Path, check_finite: bool = False) -> dict[str, torch.Tensor]:
    """Load a dict of tensors: ``.pt`` with ``weights_only=True`` (a pickle payload is refused, never run),
    ``.safetensors`` as it is (tensors only, by design)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from slug.export.formats import read_safetensors

        obj = read_safetensors(path)[0]
    else:
        obj = _torch_load(path)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a dict of name -> tensor, got {type(obj).__name__}")
    if check_finite:
        bad = [k for k, v in obj.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise ValueError(f"{path}: tensors contain NaN or Inf ({', '.join(bad[:5])}); "
                             "delete the file and recompute it (check the model weights and the data)")
    return obj


def sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
