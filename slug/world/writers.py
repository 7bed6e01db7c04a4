"""The demo world written in the real datasets' formats (LAION parquet, CelebA, ImageNet val, webdataset)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from slug.data import jpeg_bytes, write_wds_shard
from slug.io import atomic_path, atomic_write_text
from slug.world.captions import object_caption, person_caption
from slug.world.objects import OBJECT_CLASSES, draw_object
from slug.world.people import Identity, draw_person, make_identities

# --------------------------------------------------------------------------------------------
# Writers in the real datasets' formats
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldSpec:
    seed: int = 0
    n_identities: int = 60
    n_pairs: int = 24_000
    person_fraction: float = 0.6
    p_named: float = 0.8
    celeba_per_identity: int = 40
    imagenet_per_class: int = 50
    nonmember_pairs: int = 1_000
    image_size: int = 64
    min_trait_distance: int = 4


def _rng(seed: int, *path: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *path]))


def iter_pairs(spec: WorldSpec, identities: list[Identity], stream: int, n: int) -> Iterator[tuple[Image.Image, str, dict]]:
    """Yield ``n`` (image, caption, meta) pairs of stream ``stream`` (0: corpus, 3: non-members)."""
    wnids = list(OBJECT_CLASSES)
    for i in range(n):
        rng = _rng(spec.seed, stream, i)
        if rng.random() < spec.person_fraction:
            ident = identities[int(rng.integers(len(identities)))]
            img = draw_person(ident, rng, spec.image_size)
            yield img, person_caption(ident, rng, spec.p_named), {"kind": "person", "label": ident.name}
        else:
            wnid = wnids[int(rng.integers(len(wnids)))]
            name = OBJECT_CLASSES[wnid][0]
            yield draw_object(wnid, rng, spec.image_size), object_caption(name, rng), {"kind": "object", "label": name}


def write_world(spec: WorldSpec, out: Path) -> dict:
    """Write the whole demo world under ``out`` and return a summary dict.

    Layout (each in the format of the dataset it stands in for)::

        out/identities.json                          the identity table (traits per name)
        out/images/NNNNNNNN.jpg                      rendered corpus images (the "web")
        out/laion.parquet                            URL (file://), TEXT, + LAION columns
        out/celeba/img_align_celeba/NNNNNN.jpg       held-out identity images
        out/celeba/list_identity_celeba.txt          CelebA named-identity list
        out/celeba/frequent_celebs.txt               the 100 (here: all) most frequent names
        out/imagenet/val/<wnid>/*.JPEG               held-out object images
        out/imagenet/LOC_synset_mapping.txt          "<wnid> <name>" per line
        out/nonmember/00000.tar                      webdataset shard of non-member pairs
    """
    import pandas as pd

    out = Path(out)
    identities = make_identities(spec.n_identities, spec.seed, spec.min_trait_distance)
    (out / "images").mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "identities.json", json.dumps([asdict(i) for i in identities], indent=1))

    # 1. the web corpus + its LAION-style metadata parquet
    rows = []
    n_width = max(8, len(str(spec.n_pairs)))
    for i, (img, caption, meta) in enumerate(iter_pairs(spec, identities, 0, spec.n_pairs)):
        path = (out / "images" / f"{i:0{n_width}d}.jpg").resolve()
        path.write_bytes(jpeg_bytes(img))
        rng = _rng(spec.seed, 9, i)
        rows.append({"SAMPLE_ID": i, "URL": path.as_uri(), "TEXT": caption, "HEIGHT": spec.image_size,
                     "WIDTH": spec.image_size, "LICENSE": "?", "NSFW": "UNLIKELY",
                     "similarity": float(np.round(rng.uniform(0.3, 0.45), 4))})
    with atomic_path(out / "laion.parquet") as tmp:
        pd.DataFrame(rows).to_parquet(tmp, index=False)

    # 2. CelebA-format identity set (held out: its own random stream)
    celeba = out / "celeba"
    (celeba / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    lines, k = [], 0
    for j, ident in enumerate(identities):
        for m in range(spec.celeba_per_identity):
            k += 1
            name = f"{k:06d}.jpg"
            img = draw_person(ident, _rng(spec.seed, 1, j, m), spec.image_size)
            (celeba / "img_align_celeba" / name).write_bytes(jpeg_bytes(img))
            lines.append(f"{name} {ident.name.replace(' ', '_')}")
    atomic_write_text(celeba / "list_identity_celeba.txt",
                      f"{len(lines)}\nimage_id identity_name\n" + "\n".join(lines) + "\n")
    atomic_write_text(celeba / "frequent_celebs.txt", "\n".join(i.name.replace(" ", "_") for i in identities[:100]))

    # 3. ImageNet-val-format object set
    imnet = out / "imagenet"
    mapping = []
    for j, (wnid, (name, _)) in enumerate(OBJECT_CLASSES.items()):
        d = imnet / "val" / wnid
        d.mkdir(parents=True, exist_ok=True)
        for m in range(spec.imagenet_per_class):
            img = draw_object(wnid, _rng(spec.seed, 2, j, m), spec.image_size)
            (d / f"DEMO_val_{j:03d}{m:05d}.JPEG").write_bytes(jpeg_bytes(img))
        mapping.append(f"{wnid} {name}")
    atomic_write_text(imnet / "LOC_synset_mapping.txt", "\n".join(mapping) + "\n")

    # 4. non-member shard (the CC3M role in the membership-inference test)
    nm = out / "nonmember"
    nm.mkdir(parents=True, exist_ok=True)
    write_wds_shard(nm / "00000.tar", ((f"{i:09d}", img, cap, meta) for i, (img, cap, meta)
                                        in enumerate(iter_pairs(spec, identities, 3, spec.nonmember_pairs))))
    return {"identities": len(identities), "pairs": spec.n_pairs, "celeba_images": len(lines),
            "object_classes": len(OBJECT_CLASSES), "imagenet_images": len(OBJECT_CLASSES) * spec.imagenet_per_class,
            "nonmember_pairs": spec.nonmember_pairs}
