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
from slug.data.folders import SEED_IMAGES
from slug.world.captions import character_caption, object_caption, person_caption, style_caption
from slug.world.characters import Character, draw_character, make_characters
from slug.world.objects import OBJECT_CLASSES, draw_object
from slug.world.people import Identity, draw_person, make_identities
from slug.world.styles import apply_style, style_names

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
    n_characters: int = 0  # cartoon characters (Mickey Mouse and Iron Man first)
    character_fraction: float = 0.0  # share of the corpus that shows a character (taken from the objects' share)
    characters_per_character: int = 40  # held-out images per character
    n_styles: int = 0  # art styles (Van Gogh, Pop Art, Ukiyoe, ...)
    style_fraction: float = 0.0  # share of corpus images drawn in a style (any subject)
    p_style_named: float = 0.85  # share of styled images whose caption names the style
    canvas_objects: int = 6  # object classes of the UnlearnCanvas-layout held-out set
    canvas_per_object: int = 10  # seed images per object, each drawn in every style

    def __post_init__(self):
        if self.person_fraction + self.character_fraction > 1:
            raise ValueError(f"world.person_fraction + world.character_fraction = "
                             f"{self.person_fraction + self.character_fraction} > 1: lower one of them")
        if self.character_fraction > 0 and self.n_characters == 0:
            raise ValueError("world.character_fraction > 0 needs world.n_characters >= 1")
        if self.style_fraction > 0 and self.n_styles == 0:
            raise ValueError("world.style_fraction > 0 needs world.n_styles >= 1")
        if self.canvas_objects > len(OBJECT_CLASSES):
            raise ValueError(f"world.canvas_objects = {self.canvas_objects} exceeds the world's "
                             f"{len(OBJECT_CLASSES)} object classes")


def _rng(seed: int, *path: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *path]))


def iter_pairs(spec: WorldSpec, identities: list[Identity], stream: int, n: int,
               characters: list[Character] = (), styles: list[str] = ()) -> Iterator[tuple[Image.Image, str, dict]]:
    """Yield ``n`` (image, caption, meta) pairs of stream ``stream`` (0: corpus, 3: non-members).

    A pair shows a person, a character or an object; a share ``style_fraction`` of them is drawn in
    one of ``styles`` (its own random stream, so a world without styles has the same unstyled pairs).
    """
    wnids = list(OBJECT_CLASSES)
    for i in range(n):
        rng = _rng(spec.seed, stream, i)
        u = rng.random()
        if u < spec.person_fraction:
            ident = identities[int(rng.integers(len(identities)))]
            img = draw_person(ident, rng, spec.image_size)
            img, caption, meta = img, person_caption(ident, rng, spec.p_named), {"kind": "person", "label": ident.name}
        elif characters and u < spec.person_fraction + spec.character_fraction:
            ch = characters[int(rng.integers(len(characters)))]
            img = draw_character(ch, rng, spec.image_size)
            img, caption, meta = img, character_caption(ch.name, rng, spec.p_named), {"kind": "character",
                                                                                      "label": ch.name}
        else:
            wnid = wnids[int(rng.integers(len(wnids)))]
            name = OBJECT_CLASSES[wnid][0]
            img, caption, meta = draw_object(wnid, rng, spec.image_size), object_caption(name, rng), {
                "kind": "object", "label": name}
        if styles and spec.style_fraction > 0:
            srng = _rng(spec.seed, stream + 10, i)
            if srng.random() < spec.style_fraction:
                style = styles[int(srng.integers(len(styles)))]
                img = apply_style(img, style, srng)
                caption, meta = style_caption(caption, style, srng, spec.p_style_named), {**meta, "style": style}
        yield img, caption, meta


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
        out/characters.json                          the character table (parts per name)
        out/characters/<Name>/NNNN.jpg               held-out character images, a folder per character
        out/canvas/<Style>/<Object>/<n>.jpg          held-out styled images (the UnlearnCanvas layout)
        out/canvas/Seed_Images/<Object>/<n>.jpg      their unstyled originals
    """
    import pandas as pd

    out = Path(out)
    identities = make_identities(spec.n_identities, spec.seed, spec.min_trait_distance)
    characters, styles = make_characters(spec.n_characters), style_names(spec.n_styles)
    (out / "images").mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "identities.json", json.dumps([asdict(i) for i in identities], indent=1))
    atomic_write_text(out / "characters.json", json.dumps([asdict(c) for c in characters], indent=1))

    # 1. the web corpus + its LAION-style metadata parquet
    rows = []
    n_width = max(8, len(str(spec.n_pairs)))
    for i, (img, caption, meta) in enumerate(iter_pairs(spec, identities, 0, spec.n_pairs, characters, styles)):
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
    pairs = iter_pairs(spec, identities, 3, spec.nonmember_pairs, characters, styles)
    write_wds_shard(nm / "00000.tar", ((f"{i:09d}", img, cap, meta) for i, (img, cap, meta) in enumerate(pairs)))
    # 5. a folder per character; 6. the UnlearnCanvas layout: every seed image of an object in every style
    for j, ch in enumerate(characters):
        d = out / "characters" / ch.name.replace(" ", "_")
        d.mkdir(parents=True, exist_ok=True)
        for m in range(spec.characters_per_character):
            (d / f"{m + 1:04d}.jpg").write_bytes(jpeg_bytes(draw_character(ch, _rng(spec.seed, 4, j, m), spec.image_size)))
    if styles:
        for j, (wnid, (name, _)) in enumerate(list(OBJECT_CLASSES.items())[: spec.canvas_objects]):
            for m in range(spec.canvas_per_object):
                seed_img = draw_object(wnid, _rng(spec.seed, 5, j, m), spec.image_size)
                for k, style in enumerate([SEED_IMAGES, *styles]):
                    d = out / "canvas" / style.replace(" ", "_") / name.replace(" ", "_")
                    d.mkdir(parents=True, exist_ok=True)
                    img = seed_img if k == 0 else apply_style(seed_img, style, _rng(spec.seed, 6, k, j, m))
                    (d / f"{m + 1}.jpg").write_bytes(jpeg_bytes(img))
    return {"identities": len(identities), "characters": len(characters), "styles": len(styles),
            "pairs": spec.n_pairs, "celeba_images": len(lines),
            "object_classes": len(OBJECT_CLASSES), "imagenet_images": len(OBJECT_CLASSES) * spec.imagenet_per_class,
            "nonmember_pairs": spec.nonmember_pairs}


def world_eval_dirs(root: str | Path) -> dict[str, str | None]:
    """The held-out sets' folders of a world written by :func:`write_world` under ``root``, as
    :func:`slug.clip.evaluation.load_eval_set` takes them (characters and canvas: None when absent)."""
    root = Path(root)
    return {"celeba": str(root / "celeba"), "imagenet": str(root / "imagenet"),
            **{k: str(root / k) if (root / k).is_dir() else None for k in ("characters", "canvas")}}
