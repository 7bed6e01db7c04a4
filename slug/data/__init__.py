"""Readers for the datasets SLUG touches, in their real formats.

- LAION-style webdataset shards (``NNNNN.tar`` with ``key.jpg``/``key.txt``/``key.json``), as
  img2dataset writes them;
- a CelebA-style identity set (``img_align_celeba/*.jpg`` + ``list_identity_celeba.txt``);
- an ImageNet-val-style class folder tree (``val/<wnid>/*.JPEG`` + ``LOC_synset_mapping.txt``).
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")


@dataclass
class Sample:
    key: str
    image: Image.Image
    caption: str
    meta: dict
    shard: str


def check_shard(path: str | Path) -> None:
    """Raise a readable error when ``path`` is not a readable, non-empty tar shard."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"shard {path} does not exist: run the download rule or fix the path in the config")
    if path.stat().st_size == 0:
        raise ValueError(f"shard {path} is empty (0 bytes): delete it and re-run the download rule")
    try:
        with tarfile.open(path) as tf:
            members = tf.getmembers()
    except (tarfile.TarError, EOFError, OSError) as e:
        detail = " ".join(str(e).split())
        raise ValueError(f"shard {path} is truncated or corrupt ({detail}): delete it and re-run the download "
                         "rule") from None
    if not any(m.name.rsplit(".", 1)[-1].lower() in IMAGE_EXTS for m in members):
        raise ValueError(f"shard {path} holds no images: delete it and re-run the download rule")


def iter_shards(shards: Sequence[str | Path]) -> Iterator[Sample]:
    """Stream (key, image, caption, meta) samples from webdataset shards, in order, decoded.

    Reads with ``iter_raw``: each shard is checked first so that a corrupt shard fails with its name
    rather than a decoder traceback.
    """
    for shard, key, img, _, caption, meta in iter_raw(shards):
        meta = json.loads(meta) if meta else {}
        yield Sample(key, decode_image(img), caption, meta, shard)


def iter_raw(shards: Iterable[str | Path]) -> Iterator[tuple[str, str, bytes, str, str, bytes | None]]:
    """(shard, key, image bytes, ext, caption, json bytes) from webdataset shards, undecoded: a few kB
    per sample instead of its pixels (``decode_image`` decodes one)."""
    import webdataset as wds

    for shard in shards:
        check_shard(shard)
        for s in wds.WebDataset(str(shard), shardshuffle=False, empty_check=False):
            ext = next((k for k in IMAGE_EXTS if k in s), None)
            if ext is None or "txt" not in s:
                continue
            yield str(shard), s["__key__"], s[ext], ext, s["txt"].decode("utf-8", "replace"), s.get("json")


def decode_image(data: bytes) -> Image.Image:
    """An encoded image as webdataset's "pil" decoder gives it, in RGB."""
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


class ImageStore:
    """Preprocessed images held as uint8 pixels, 4x smaller than the float tensors the model takes.

    ``from_images`` splits an open_clip/torchvision preprocessing ``Compose`` that ends in
    ``ToTensor``-then-``Normalize``: the geometric part runs once per image at load time (random
    crops of a training transform included) and the pixels are kept as uint8; ``to(device)`` gives
    the normalised float batch by looking each pixel up in a per-channel table of its 256 values,
    computed once on the CPU with ToTensor's and Normalize's own operations. So the result is
    bit-identical to running the whole transform on the CPU, on any device (a GPU's division would
    differ in the last bit). Indexing (a slice, a mask, indices) gives another store, so code that
    batches with ``images[i:j].to(device)`` takes either this or a tensor. A transform that does not
    end in ``Normalize`` keeps its float output as it is.
    """

    def __init__(self, pixels: torch.Tensor, lut: torch.Tensor | None = None):
        self.pixels, self.lut = pixels, lut  # lut: [channels, 256] float32, None for float pixels

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, idx) -> "ImageStore":
        return ImageStore(self.pixels[idx], self.lut)

    @property
    def shape(self) -> torch.Size:
        return self.pixels.shape

    @property
    def nbytes(self) -> int:
        return self.pixels.numel() * self.pixels.element_size()

    def to(self, device: str | torch.device) -> torch.Tensor:
        x = self.pixels.to(device)
        if self.lut is None:
            return x
        lut = self.lut.to(x.device)
        if lut.shape[0] != x.shape[-3]:  # Normalize broadcasts a one-value mean over the channels
            if lut.shape[0] != 1:
                raise ValueError(f"{lut.shape[0]} normalisation channels for images of {x.shape[-3]} channels")
            lut = lut.expand(x.shape[-3], -1)
        out = torch.empty(x.shape, dtype=lut.dtype, device=x.device)
        for c in range(lut.shape[0]):  # int32 indices, one channel at a time: a small transient
            xc = x.select(-3, c)
            out.select(-3, c).copy_(lut[c].index_select(0, xc.reshape(-1).int()).view(xc.shape))
        return out

    @staticmethod
    def normalize_table(mean, std) -> torch.Tensor:
        """[C, 256]: ``Normalize(mean, std)(ToTensor()(pixel value))`` for every uint8 value, computed as they do."""
        values = torch.arange(256, dtype=torch.uint8).to(torch.float32).div(255)  # ToTensor
        mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1)
        std = torch.as_tensor(std, dtype=torch.float32).view(-1, 1)
        return values.view(1, -1).sub(mean).div(std)  # Normalize: sub then div, elementwise

    @staticmethod
    def _split(transform: Callable) -> tuple[Callable, torch.Tensor | None]:
        from torchvision import transforms as T

        steps = getattr(transform, "transforms", None)
        if steps and isinstance(steps[-1], T.Normalize) and len(steps) >= 2 and "ToTensor" in type(steps[-2]).__name__:
            return T.Compose(steps[:-1]), ImageStore.normalize_table(steps[-1].mean, steps[-1].std)
        return transform, None

    @classmethod
    def from_images(cls, images: Iterator[Image.Image], n: int, transform: Callable) -> "ImageStore":
        """``n`` PIL images through ``transform`` into one preallocated store (no list-then-stack copy)."""
        head, lut = cls._split(transform)
        out = None
        for i, im in enumerate(images):
            x = head(im)
            if lut is not None:
                if x.dtype != torch.float32 or float(x.min()) < 0 or float(x.max()) > 1:
                    raise ValueError(f"{transform}: expected ToTensor's [0, 1] floats before Normalize")
                x = x.mul(255).round_().to(torch.uint8)  # ToTensor divided uint8 pixels by 255: exact
            if out is None:
                out = torch.empty((n, *x.shape), dtype=x.dtype)
            out[i] = x
        if out is None:
            raise ValueError("no images to load")
        return cls(out, lut)


def load_pairs(shards: Sequence[str | Path], transform: Callable, tokenizer: Callable,
               limit: int | None = None) -> tuple[ImageStore, torch.Tensor, list[str]]:
    """Read shards into memory: (images [N,3,H,W] as an ``ImageStore``, tokens [N,L], captions).

    Samples are ordered by shard, then by key: img2dataset writes a shard's samples in the order its
    download threads finish, so the order inside a tar is not reproducible, while the keys are.
    The transform runs after sorting, so random augmentations are reproducible too.
    """
    samples: list[tuple] = []  # (key, encoded image, caption): decoded one at a time below
    for shard in shards:
        samples += sorted(((key, img, cap) for _, key, img, _, cap, _ in iter_raw([shard])), key=lambda s: s[0])
        if limit is not None and len(samples) >= limit:
            break
    samples = samples[:limit] if limit is not None else samples
    if not samples:
        raise ValueError(f"no image-text pairs in {list(map(str, shards))}")
    caps = [cap for _, _, cap in samples]
    images = ImageStore.from_images((decode_image(img) for _, img, _ in samples), len(samples), transform)
    return images, tokenizer(caps), caps


# ------------------------------------------------------------------------------------------
# CelebA-format identity set
# ------------------------------------------------------------------------------------------


def read_celeba(root: str | Path) -> pd.DataFrame:
    """Return a frame (image, path, identity) from a CelebA-style folder; names use spaces."""
    root = Path(root)
    lst = root / "list_identity_celeba.txt"
    if not lst.is_file():
        raise FileNotFoundError(
            f"missing CelebA identity list {lst}: it maps image files to identity names "
            "('image_id identity_name' per line after two header lines); request it from the CelebA "
            "authors (paper config) or rebuild the demo world (demo config)")
    rows = []
    for n, line in enumerate(lst.read_text().splitlines()[2:], start=3):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{lst}:{n}: expected 'image_id identity_name', got {line!r}")
        rows.append((parts[0], str(root / "img_align_celeba" / parts[0]), parts[1].replace("_", " ")))
    if not rows:
        raise ValueError(f"{lst} lists no images")
    return pd.DataFrame(rows, columns=["image", "path", "identity"])


def read_imagenet_val(root: str | Path) -> pd.DataFrame:
    """Return a frame (path, wnid, classname) from an ImageNet-val-style folder tree.

    A class is its wnid. Its name is the first synonym of ``LOC_synset_mapping.txt``, except for the
    full 1000-class ImageNet, which gets open_clip's curated ``IMAGENET_CLASSNAMES`` (in sorted-wnid
    order, as open_clip and the reference evaluate it): the first synonyms name two different
    classes "crane" and two "maillot".
    """
    root = Path(root)
    mapping = root / "LOC_synset_mapping.txt"
    if not mapping.is_file():
        raise FileNotFoundError(f"missing {mapping}: one '<wnid> <class name>' line per class")
    names = {}
    for line in mapping.read_text().splitlines():
        if line.strip():
            wnid, name = line.split(" ", 1)
            names[wnid] = name.split(",")[0].strip()
    if len(names) == 1000:
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

        names = dict(zip(sorted(names), IMAGENET_CLASSNAMES))
    rows = [(str(p), p.parent.name, names[p.parent.name])
            for p in sorted((root / "val").glob("*/*")) if p.parent.name in names
            and p.suffix.lower().lstrip(".") in IMAGE_EXTS]
    if not rows:
        raise ValueError(f"no images under {root / 'val'}/<wnid>/ for the classes of {mapping}")
    return pd.DataFrame(rows, columns=["path", "wnid", "classname"])


def split_half(df: pd.DataFrame, by: str) -> pd.Series:
    """Deterministic split label per row: within each group of ``by``, alternate 'search'/'test'.

    The step-size search selects on the 'search' half; reports use the held-out 'test' half.
    """
    order = df.groupby(by).cumcount()
    return pd.Series(np.where(order % 2 == 0, "search", "test"), index=df.index)


def load_images(paths: Sequence[str], transform: Callable) -> ImageStore:
    """Every image through ``transform``, into one preallocated uint8 store (see ``ImageStore``)."""
    def opened():
        for p in paths:
            with Image.open(p) as im:
                yield im.convert("RGB")

    return ImageStore.from_images(opened(), len(paths), transform)


def jpeg_bytes(img: Image.Image, quality: int = 92) -> bytes:
    """A PIL image as JPEG file bytes."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def write_tar(path: str | Path, records: Iterable[dict]) -> int:
    """Write webdataset records (``{"__key__": ..., ext: bytes | str | dict}``) to a tar, atomically, with
    a fixed mtime (reproducible bytes) and the compression of the real name (``.tar.gz`` etc.)."""
    import webdataset as wds

    from slug.io import atomic_path

    n = 0
    # the compression follows the real name (webdataset would read it from the temporary one)
    compress = next((c for c in ("gz", "bz2", "xz") if str(path).endswith(c)), False)
    with atomic_path(path) as tmp, wds.TarWriter(str(tmp), mtime=0, compress=compress) as sink:
        for record in records:
            sink.write(record)
            n += 1
    return n


def write_wds_shard(path: str | Path, samples: Iterable[tuple]) -> int:
    """Write ``(key, PIL image | jpeg bytes, caption, meta)`` samples as a LAION-style webdataset shard."""
    return write_tar(path, ({"__key__": key, "jpg": img if isinstance(img, (bytes, bytearray)) else jpeg_bytes(img),
                             "txt": caption, "json": meta} for key, img, caption, meta in samples))


from slug.data.folders import SEED_IMAGES, read_canvas, read_character_folders  # noqa: E402  (uses IMAGE_EXTS)
