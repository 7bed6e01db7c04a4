"""Readers of the folder-per-class held-out sets: characters (``{Name}/{n}.jpg``) and the UnlearnCanvas layout."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from slug.data import IMAGE_EXTS

SEED_IMAGES = "Seed_Images"  # UnlearnCanvas's folder of the unstyled originals


def _images(d: Path) -> list[Path]:
    return sorted((p for p in d.iterdir() if p.suffix.lower().lstrip(".") in IMAGE_EXTS),
                  key=lambda p: (len(p.stem), p.stem))  # 2.jpg before 10.jpg


def read_character_folders(root: str | Path) -> pd.DataFrame:
    """A frame (path, character) from a folder per character (``root/Mickey_Mouse/0001.jpg``); names use spaces."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"missing character folder {root}: put one folder of images per character "
                                "under it (e.g. Mickey_Mouse/0001.jpg), or rebuild the demo world (demo config)")
    rows = [(str(p), d.name.replace("_", " ")) for d in sorted(root.iterdir()) if d.is_dir() for p in _images(d)]
    if not rows:
        raise ValueError(f"no images under {root}/<character>/")
    return pd.DataFrame(rows, columns=["path", "character"])


def read_canvas(root: str | Path, seed_images: bool = False) -> pd.DataFrame:
    """A frame (path, style, object, n) from the UnlearnCanvas layout ``root/{Style}/{Object}/{n}.jpg``.

    Names use spaces (``Van_Gogh`` is "Van Gogh"). ``seed_images``: the unstyled originals under
    ``Seed_Images/`` instead (their style is ``""``).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"missing UnlearnCanvas folder {root}: it holds {{Style}}/{{Object}}/{{n}}.jpg and "
                                f"{SEED_IMAGES}/{{Object}}/{{n}}.jpg; download the dataset (paper config) or rebuild "
                                "the demo world (demo config)")
    rows = []
    for sd in sorted(root.iterdir()):
        if not sd.is_dir() or (sd.name == SEED_IMAGES) != seed_images:
            continue
        for od in sorted(d for d in sd.iterdir() if d.is_dir()):
            rows += [(str(p), "" if seed_images else sd.name.replace("_", " "), od.name.replace("_", " "), p.stem)
                     for p in _images(od)]
    if not rows:
        raise ValueError(f"no images under {root}/{SEED_IMAGES if seed_images else '<Style>'}/<Object>/")
    return pd.DataFrame(rows, columns=["path", "style", "object", "n"])
