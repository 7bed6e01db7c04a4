"""The held-out evaluation sets, split in two: identities (CelebA format), objects (ImageNet-val format) and,
where configured, characters (a folder per character) and styles (the UnlearnCanvas layout)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import pandas as pd
import torch

from slug.concepts import KIND_TASKS
from slug.data import (ImageStore, load_images, read_canvas, read_celeba, read_character_folders, read_imagenet_val,
                       split_half)

#: The set that holds a kind's images.
_KIND_SOURCE = {"person": "the CelebA-format identity list", "object": "LOC_synset_mapping.txt of the object set",
                "character": "the character folders (data.characters_dir)",
                "style": "the UnlearnCanvas-layout style folders (data.canvas_dir)"}


@dataclass
class EvalSet:
    id_images: ImageStore | torch.Tensor  # uint8 pixels (load_eval_set) or preprocessed float images
    id_labels: torch.Tensor
    id_names: list[str]
    obj_images: ImageStore | torch.Tensor
    obj_labels: torch.Tensor
    obj_names: list[str]
    char_images: ImageStore | torch.Tensor | None = None  # characters (none when not configured)
    char_labels: torch.Tensor | None = None
    char_names: list[str] | None = None
    style_images: ImageStore | torch.Tensor | None = None  # styled images (none when not configured)
    style_labels: torch.Tensor | None = None
    style_names: list[str] | None = None

    def has_images(self, name: str) -> bool:
        return name in self.id_names and bool((self.id_labels == self.id_names.index(name)).any())

    def target_index(self, name: str) -> int:
        try:
            i = self.id_names.index(name)
        except ValueError:
            raise ValueError(f"identity {name!r} is not in the CelebA-format identity list "
                             f"({len(self.id_names)} names, e.g. {self.id_names[:3]}): check the concept's "
                             "display name in the config's concepts table") from None
        if not self.has_images(name):
            raise ValueError(f"identity {name!r} has no image in this split of the CelebA-format set: the search "
                             "and the report each use half of a person's images, so list at least 2 for them")
        return i

    def classes(self, kind: str) -> list[str] | None:
        return {"person": self.id_names, "object": self.obj_names, "character": self.char_names,
                "style": self.style_names}[kind]

    def target(self, name: str, kind: str = "person") -> tuple[str, int]:
        """The concept's class as ``(task name, class index)``: a person among the identities, an object among
        the object classes, a character among the characters, a style among the styles (by name; objects,
        characters and styles case-insensitively)."""
        if kind == "person":
            return "identities", self.target_index(name)
        names = self.classes(kind)
        if names is None:
            raise ValueError(f"concept {name!r} is a {kind}, but this evaluation has no {KIND_TASKS[kind]} task: "
                             f"set {_KIND_SOURCE[kind]} in the config")
        low = [n.lower() for n in names]
        if name.lower() not in low:
            raise ValueError(f"{kind} {name!r} is not a class of {_KIND_SOURCE[kind]} ({len(names)} classes, e.g. "
                             f"{names[:3]}): use one of its names as the concept's display name")
        return KIND_TASKS[kind], low.index(name.lower())


def _cap(df: pd.DataFrame, by: str, cap: int | None, keep: Sequence[str]) -> pd.DataFrame:
    """The first ``cap`` rows of each ``by`` group; the groups named in ``keep`` keep all their rows."""
    if not cap:
        return df
    exempt = df[by].isin(list(keep))
    return pd.concat([df[~exempt].groupby(by).head(cap), df[exempt]]).sort_index()


def load_eval_set(dirs: Mapping[str, str | None], split: str, transform: Callable,
                  max_per_identity: int | None = None, max_per_class: int | None = None,
                  keep: Sequence[str] = ()) -> EvalSet:
    """Load one split ('search', 'test' or 'all') of the held-out sets into memory.

    ``dirs``: ``celeba`` and ``imagenet`` folders, and optionally ``characters`` and ``canvas`` (None or
    absent: no such task). ``max_per_identity`` caps the images of each identity and character,
    ``max_per_class`` those of each object class and style (a full CelebA and ImageNet val do not fit in
    memory as tensors); the classes in ``keep`` (the concepts being unlearned) keep all their images, so
    the forget metrics are never capped.
    """
    cel = read_celeba(dirs["celeba"])
    names = sorted(cel.identity.unique())
    inet = read_imagenet_val(dirs["imagenet"])
    wnids = sorted(inet.wnid.unique())  # a class is a wnid: two classes may share a name
    class_name = dict(zip(inet.wnid, inet.classname))
    chars = read_character_folders(dirs["characters"]) if dirs.get("characters") else None
    canvas = read_canvas(dirs["canvas"]) if dirs.get("canvas") else None
    char_names = sorted(chars.character.unique()) if chars is not None else None
    style_names = sorted(canvas["style"].unique()) if canvas is not None else None
    if split != "all":
        cel = cel[split_half(cel, "identity") == split]
        inet = inet[split_half(inet, "wnid") == split]
        chars = chars[split_half(chars, "character") == split] if chars is not None else None
        canvas = canvas[split_half(canvas, "style") == split] if canvas is not None else None
    cel = _cap(cel, "identity", max_per_identity, keep)
    if max_per_class:  # an object concept keeps all its images, as the docstring promises (classes by wnid)
        exempt = inet.classname.str.lower().isin([k.lower() for k in keep])
        inet = pd.concat([inet[~exempt].groupby("wnid").head(max_per_class), inet[exempt]]).sort_index()
    id_index, obj_index = {n: i for i, n in enumerate(names)}, {w: i for i, w in enumerate(wnids)}
    es = EvalSet(
        id_images=load_images(list(cel.path), transform),
        id_labels=torch.tensor([id_index[n] for n in cel.identity]),
        id_names=names,
        obj_images=load_images(list(inet.path), transform),
        obj_labels=torch.tensor([obj_index[w] for w in inet.wnid]),
        obj_names=[class_name[w] for w in wnids],
    )
    if chars is not None:
        chars = _cap(chars, "character", max_per_identity, keep)
        es.char_images, es.char_names = load_images(list(chars.path), transform), char_names
        es.char_labels = torch.tensor([char_names.index(n) for n in chars.character])
    if canvas is not None:
        canvas = _cap(canvas, "style", max_per_class, keep)
        es.style_images, es.style_names = load_images(list(canvas.path), transform), style_names
        es.style_labels = torch.tensor([style_names.index(n) for n in canvas["style"]])
    return es
