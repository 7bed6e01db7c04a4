"""The held-out evaluation sets: identities (CelebA format) and objects (ImageNet-val format), split in two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import pandas as pd
import torch

from slug.data import ImageStore, load_images, read_celeba, read_imagenet_val, split_half


@dataclass
class EvalSet:
    id_images: ImageStore | torch.Tensor  # uint8 pixels (load_eval_set) or preprocessed float images
    id_labels: torch.Tensor
    id_names: list[str]
    obj_images: ImageStore | torch.Tensor
    obj_labels: torch.Tensor
    obj_names: list[str]

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

    def target(self, name: str, kind: str = "person") -> tuple[str, int]:
        """The concept's class as ``(task name, class index)``: a person among the identities, an object
        among the object classes (by class name). Characters and styles have no held-out task in this
        evaluation set yet: asking for one names what is missing."""
        if kind == "person":
            return "identities", self.target_index(name)
        if kind == "object":
            low = [n.lower() for n in self.obj_names]
            if name.lower() not in low:
                raise ValueError(f"object {name!r} is not a class of the ImageNet-format object set "
                                 f"({len(self.obj_names)} classes, e.g. {self.obj_names[:3]}): use a class name "
                                 "of LOC_synset_mapping.txt as the concept's display name")
            return "objects", low.index(name.lower())
        raise ValueError(f"concept {name!r} is a {kind}: this evaluation set has held-out tasks for people "
                         f"(identities) and objects only, so a {kind} cannot be evaluated yet")


def load_eval_set(celeba_dir: str, imagenet_dir: str, split: str, transform: Callable,
                  max_per_identity: int | None = None, max_per_class: int | None = None,
                  keep: Sequence[str] = ()) -> EvalSet:
    """Load one split ('search', 'test' or 'all') of the identity and object sets into memory.

    ``max_per_identity`` / ``max_per_class`` keep the first images of each identity / object class
    (a full CelebA and ImageNet val do not fit in memory as tensors); the identities in ``keep``
    (the concepts being unlearned) keep all their images, so the forget metrics are never capped.
    """
    cel = read_celeba(celeba_dir)
    names = sorted(cel.identity.unique())
    inet = read_imagenet_val(imagenet_dir)
    wnids = sorted(inet.wnid.unique())  # a class is a wnid: two classes may share a name
    class_name = dict(zip(inet.wnid, inet.classname))
    if split != "all":
        cel = cel[split_half(cel, "identity") == split]
        inet = inet[split_half(inet, "wnid") == split]
    if max_per_identity:
        exempt = cel.identity.isin(list(keep))
        cel = pd.concat([cel[~exempt].groupby("identity").head(max_per_identity), cel[exempt]]).sort_index()
    if max_per_class:
        inet = inet.groupby("wnid").head(max_per_class)
    id_index, obj_index = {n: i for i, n in enumerate(names)}, {w: i for i, w in enumerate(wnids)}
    return EvalSet(
        id_images=load_images(list(cel.path), transform),
        id_labels=torch.tensor([id_index[n] for n in cel.identity]),
        id_names=names,
        obj_images=load_images(list(inet.path), transform),
        obj_labels=torch.tensor([obj_index[w] for w in inet.wnid]),
        obj_names=[class_name[w] for w in wnids],
    )


