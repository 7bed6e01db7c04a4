"""The embedded demo world: procedurally drawn identities and object icons.

The world stands in for LAION-400M, CelebA and ImageNet on machines without internet. It is
written in the *formats* of those datasets (a LAION-style metadata parquet of URLs, a CelebA-style
identity folder, an ImageNet-val-style class folder tree, a webdataset shard of non-members), so
that every later stage reads the demo exactly as it reads the real data.

Everything is a pure function of a seed: the identity table, the object table and each image
(every image has its own :class:`numpy.random.SeedSequence` child), so two runs write identical
bytes.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from slug.io import atomic_path, atomic_write_text

# --------------------------------------------------------------------------------------------
# Identities
# --------------------------------------------------------------------------------------------

#: The five identities of the paper's benchmark come first; the rest are invented names.
BENCHMARK_IDENTITIES = ["Elon Musk", "Jeff Bezos", "Taylor Swift", "Kim Kardashian", "Mark Zuckerberg"]

_FIRST = [
    "Ada", "Boris", "Carla", "Dmitri", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Kira",
    "Lars", "Mira", "Nico", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Wade", "Xenia", "Yusuf", "Zora", "Anton", "Bianca", "Cyril", "Dalia", "Emil", "Fiona",
    "Gideon", "Helga", "Ivo", "Jana", "Kofi", "Lena", "Marco", "Nadia", "Oscar", "Petra",
    "Rafael", "Selma", "Tomas", "Ulla", "Viktor", "Wanda", "Yara", "Zeno",
]
_LAST = [
    "Abbott", "Brandt", "Castillo", "Dorsey", "Eklund", "Ferreira", "Galloway", "Hartmann",
    "Ivanova", "Jansen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov",
    "Quintero", "Rasmussen", "Santoro", "Tanaka", "Ueda", "Vasquez", "Whitfield", "Xu",
    "Yilmaz", "Zimmer", "Almeida", "Bergstrom", "Coates", "Delacroix", "Engel", "Fontaine",
    "Grummet", "Holloway", "Ishikawa", "Jovanovic", "Kessler", "Lombardi", "Marchetti",
    "Nakamura", "Oyelaran", "Pellegrini", "Rinaldi", "Sorensen", "Takahashi", "Underwood",
    "Valentin", "Winslow", "Yamada", "Zielinski",
]

FACE_SHAPES = ["round", "oval", "square", "long"]
SKIN_TONES = {
    "porcelain": (250, 224, 205), "peach": (236, 192, 160), "tan": (205, 155, 110),
    "brown": (150, 100, 65), "deep": (95, 60, 40),
}
HAIR_STYLES = ["bald", "short", "long", "spiky", "bun", "sidepart", "curly"]
HAIR_COLOURS = {
    "black": (25, 22, 20), "brown": (110, 65, 30), "blonde": (235, 200, 90), "red": (190, 60, 30),
    "grey": (165, 165, 170), "blue": (40, 90, 220), "pink": (240, 110, 180),
}
EYE_STYLES = ["dots", "round", "narrow"]
EYE_COLOURS = {"dark": (30, 30, 30), "blue": (40, 110, 230), "green": (40, 170, 60)}
ACCESSORIES = ["none", "glasses", "sunglasses", "hat", "earrings", "headband"]
FACIAL_HAIR = ["none", "beard", "mustache"]
SHIRT_COLOURS = {
    "white": (240, 240, 240), "black": (30, 30, 35), "red": (200, 40, 40), "navy": (30, 40, 120),
    "green": (40, 140, 60), "yellow": (235, 205, 40), "purple": (130, 50, 160), "orange": (240, 130, 30),
}
TRAITS: dict[str, list[str]] = {
    "face": FACE_SHAPES, "skin": list(SKIN_TONES), "hair_style": HAIR_STYLES,
    "hair_colour": list(HAIR_COLOURS), "eyes": EYE_STYLES, "eye_colour": list(EYE_COLOURS),
    "accessory": ACCESSORIES, "facial_hair": FACIAL_HAIR, "shirt": list(SHIRT_COLOURS),
}


@dataclass(frozen=True)
class Identity:
    """A named cartoon person: a fixed combination of traits shared, one by one, with others."""

    name: str
    face: str
    skin: str
    hair_style: str
    hair_colour: str
    eyes: str
    eye_colour: str
    accessory: str
    facial_hair: str
    shirt: str

    @property
    def slug(self) -> str:
        return self.name.lower().replace(" ", "_")

    def traits(self) -> tuple[str, ...]:
        return tuple(getattr(self, k) for k in TRAITS)


def make_identities(n: int, seed: int, min_trait_distance: int = 4) -> list[Identity]:
    """Draw ``n`` identities whose trait vectors differ pairwise in ``min_trait_distance`` traits.

    No single trait tells two people apart, so recognising one takes several traits together.
    """
    if n < len(BENCHMARK_IDENTITIES):
        raise ValueError(f"world.n_identities must be >= {len(BENCHMARK_IDENTITIES)}, got {n}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    names = list(BENCHMARK_IDENTITIES)
    pool = [f"{f} {s}" for f, s in zip(rng.permutation(_FIRST), rng.permutation(_LAST))]
    pool += [f"{f} {s}" for f, s in zip(rng.permutation(_FIRST), rng.permutation(_LAST)) if f"{f} {s}" not in pool]
    if len(set(pool) | set(names)) < n:
        # Every other first x last combination, from a generator of its own so that the traits drawn
        # below (and any world of at most ~100 people) stay what they were.
        rest = sorted({f"{f} {s}" for f in _FIRST for s in _LAST} - set(pool))
        order = np.random.default_rng(np.random.SeedSequence([seed, 2])).permutation(len(rest))
        pool += [rest[i] for i in order]
    for candidate in pool:
        if len(names) >= n:
            break
        if candidate not in names:
            names.append(candidate)
    if len(names) < n:
        raise ValueError(f"world.n_identities={n} exceeds the {len(names)} names the world can draw "
                         f"({len(_FIRST)} first x {len(_LAST)} last names); lower world.n_identities")
    identities: list[Identity] = []
    for name in names:
        for _ in range(10_000):
            traits = {k: v[int(rng.integers(len(v)))] for k, v in TRAITS.items()}
            cand = tuple(traits.values())
            if all(sum(a != b for a, b in zip(cand, o.traits())) >= min_trait_distance for o in identities):
                identities.append(Identity(name=name, **traits))
                break
        else:
            raise ValueError(f"could not draw {n} identities that differ in {min_trait_distance} of {len(TRAITS)} "
                             f"traits (stopped at {len(identities)}): lower world.min_trait_distance or "
                             "world.n_identities")
    return identities


# --------------------------------------------------------------------------------------------
# Drawing helpers
# --------------------------------------------------------------------------------------------

Colour = tuple[int, int, int]


def _jitter(rng: np.random.Generator, c: Colour, amount: int = 18) -> Colour:
    return tuple(int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in c)  # type: ignore[return-value]


def _random_colour(rng: np.random.Generator) -> Colour:
    return tuple(int(v) for v in rng.integers(0, 256, size=3))  # type: ignore[return-value]


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    top, bottom = _random_colour(rng), _random_colour(rng)
    t = np.linspace(0.0, 1.0, size)[:, None, None]
    grad = (np.array(top)[None, None] * (1 - t) + np.array(bottom)[None, None] * t)
    arr = np.broadcast_to(grad, (size, size, 3)).astype(np.float32)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def _finish(rng: np.random.Generator, img: Image.Image, out_size: int) -> Image.Image:
    img = img.resize((out_size, out_size), Image.BILINEAR)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 0.9))))
    arr = np.asarray(img).astype(np.float32)
    arr += rng.normal(0.0, rng.uniform(2.0, 9.0), size=arr.shape)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


class _Canvas:
    """Coordinates in a unit box mapped to pixels through a random placement (shift and scale)."""

    def __init__(self, img: Image.Image, cx: float, cy: float, scale: float):
        self.img, self.draw = img, ImageDraw.Draw(img)
        self.S, self.cx, self.cy, self.scale = img.size[0], cx, cy, scale

    def p(self, x: float, y: float) -> tuple[float, float]:
        return (self.cx + (x - 0.5) * self.scale) * self.S, (self.cy + (y - 0.5) * self.scale) * self.S

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        a, b = self.p(x0, y0), self.p(x1, y1)
        return [min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])]

    def ellipse(self, x0, y0, x1, y1, fill, outline=None, width=1):
        self.draw.ellipse(self.box(x0, y0, x1, y1), fill=fill, outline=outline, width=width)

    def rect(self, x0, y0, x1, y1, fill, outline=None, width=1):
        self.draw.rectangle(self.box(x0, y0, x1, y1), fill=fill, outline=outline, width=width)

    def poly(self, pts, fill, outline=None):
        self.draw.polygon([self.p(x, y) for x, y in pts], fill=fill, outline=outline)

    def line(self, pts, fill, width: float = 0.03):
        self.draw.line([self.p(x, y) for x, y in pts], fill=fill, width=max(1, int(width * self.S * self.scale)))

    def pieslice(self, x0, y0, x1, y1, start, end, fill):
        self.draw.pieslice(self.box(x0, y0, x1, y1), start, end, fill=fill)


def draw_person(identity: Identity, rng: np.random.Generator, size: int = 64, render: int = 128) -> Image.Image:
    """Render one image of ``identity``: same traits, new pose, scale, light, background, noise."""
    img = _background(rng, render)
    c = _Canvas(img, cx=0.5 + rng.uniform(-0.08, 0.08), cy=0.5 + rng.uniform(-0.06, 0.08),
                scale=rng.uniform(0.78, 1.0))
    skin = _jitter(rng, SKIN_TONES[identity.skin], 12)
    hair = _jitter(rng, HAIR_COLOURS[identity.hair_colour], 15)
    shirt = _jitter(rng, SHIRT_COLOURS[identity.shirt], 15)
    # shoulders and shirt
    c.pieslice(0.12, 0.78, 0.88, 1.35, 180, 360, fill=shirt)
    c.rect(0.44, 0.70, 0.56, 0.84, fill=skin)  # neck
    # hair behind the head
    if identity.hair_style == "long":
        c.rect(0.22, 0.30, 0.78, 0.86, fill=hair)
    elif identity.hair_style == "bun":
        c.ellipse(0.40, 0.02, 0.60, 0.20, fill=hair)
    elif identity.hair_style == "curly":
        for k in range(9):
            a = math.pi * (k / 8)
            x, y = 0.5 - 0.30 * math.cos(a), 0.40 - 0.28 * math.sin(a)
            c.ellipse(x - 0.09, y - 0.09, x + 0.09, y + 0.09, fill=hair)
    # face
    f = {"round": (0.27, 0.20, 0.73, 0.76), "oval": (0.31, 0.16, 0.69, 0.80),
         "square": (0.28, 0.20, 0.72, 0.76), "long": (0.33, 0.12, 0.67, 0.84)}[identity.face]
    if identity.face == "square":
        c.rect(*f, fill=skin)
    else:
        c.ellipse(*f, fill=skin)
    # hair on top
    hs = identity.hair_style
    if hs in ("short", "long", "sidepart", "bun"):
        c.pieslice(f[0] - 0.02, f[1] - 0.04, f[2] + 0.02, f[1] + 0.30, 180, 360, fill=hair)
        if hs == "sidepart":
            c.poly([(f[0] - 0.02, f[1] + 0.12), (0.62, f[1] - 0.02), (f[2] + 0.02, f[1] + 0.22)], fill=hair)
    elif hs == "spiky":
        for k in range(6):
            x = f[0] + (f[2] - f[0]) * (k + 0.5) / 6
            c.poly([(x - 0.06, f[1] + 0.10), (x, f[1] - 0.12), (x + 0.06, f[1] + 0.10)], fill=hair)
    # eyes
    eye_c = _jitter(rng, EYE_COLOURS[identity.eye_colour], 10)
    ey = f[1] + (f[3] - f[1]) * 0.42
    for ex in (0.41, 0.59):
        if identity.eyes == "dots":
            c.ellipse(ex - 0.035, ey - 0.035, ex + 0.035, ey + 0.035, fill=eye_c)
        elif identity.eyes == "round":
            c.ellipse(ex - 0.06, ey - 0.05, ex + 0.06, ey + 0.05, fill=(250, 250, 250))
            c.ellipse(ex - 0.03, ey - 0.03, ex + 0.03, ey + 0.03, fill=eye_c)
        else:
            c.rect(ex - 0.06, ey - 0.015, ex + 0.06, ey + 0.015, fill=eye_c)
    # mouth
    my = f[1] + (f[3] - f[1]) * 0.75
    c.line([(0.44, my), (0.5, my + 0.02), (0.56, my)], fill=(150, 40, 50), width=0.025)
    # facial hair
    if identity.facial_hair == "beard":
        c.pieslice(f[0] + 0.02, f[1] + (f[3] - f[1]) * 0.45, f[2] - 0.02, f[3] + 0.04, 0, 180, fill=hair)
        c.line([(0.44, my), (0.5, my + 0.02), (0.56, my)], fill=(150, 40, 50), width=0.025)
    elif identity.facial_hair == "mustache":
        c.rect(0.40, my - 0.05, 0.60, my - 0.015, fill=hair)
    # accessories
    acc = identity.accessory
    if acc in ("glasses", "sunglasses"):
        lens = (20, 20, 20) if acc == "sunglasses" else None
        for ex in (0.41, 0.59):
            c.ellipse(ex - 0.08, ey - 0.065, ex + 0.08, ey + 0.065, fill=lens, outline=(20, 20, 20), width=2)
        c.line([(0.49, ey), (0.51, ey)], fill=(20, 20, 20), width=0.02)
    elif acc == "hat":
        hat = _jitter(rng, (60, 45, 35), 20)
        c.rect(f[0] - 0.08, f[1] + 0.02, f[2] + 0.08, f[1] + 0.07, fill=hat)
        c.rect(f[0] + 0.04, f[1] - 0.16, f[2] - 0.04, f[1] + 0.04, fill=hat)
    elif acc == "earrings":
        for ex in (f[0] - 0.01, f[2] + 0.01):
            c.ellipse(ex - 0.03, ey + 0.12, ex + 0.03, ey + 0.18, fill=(245, 200, 30))
    elif acc == "headband":
        c.rect(f[0], f[1] + 0.08, f[2], f[1] + 0.13, fill=(230, 30, 30))
    return _finish(rng, img, size)


# --------------------------------------------------------------------------------------------
# Objects (the ImageNet stand-in)
# --------------------------------------------------------------------------------------------


def _obj_house(c, rng):
    wall, roof = _random_colour(rng), _jitter(rng, (170, 40, 30), 40)
    c.rect(0.2, 0.45, 0.8, 0.9, fill=wall)
    c.poly([(0.12, 0.47), (0.5, 0.12), (0.88, 0.47)], fill=roof)
    c.rect(0.43, 0.65, 0.57, 0.9, fill=(90, 55, 30))
    c.rect(0.27, 0.55, 0.38, 0.66, fill=(170, 220, 250))


def _obj_tree(c, rng):
    c.rect(0.44, 0.55, 0.56, 0.92, fill=_jitter(rng, (110, 70, 35), 25))
    c.ellipse(0.2, 0.1, 0.8, 0.65, fill=_jitter(rng, (40, 150, 50), 40))


def _obj_car(c, rng):
    body = _random_colour(rng)
    c.rect(0.1, 0.5, 0.9, 0.72, fill=body)
    c.poly([(0.25, 0.5), (0.35, 0.33), (0.65, 0.33), (0.75, 0.5)], fill=body)
    c.rect(0.38, 0.37, 0.62, 0.49, fill=(170, 220, 250))
    for x in (0.28, 0.72):
        c.ellipse(x - 0.1, 0.62, x + 0.1, 0.82, fill=(20, 20, 20))


def _obj_sun(c, rng):
    col = _jitter(rng, (250, 200, 30), 25)
    for k in range(12):
        a = 2 * math.pi * k / 12
        c.line([(0.5 + 0.2 * math.cos(a), 0.5 + 0.2 * math.sin(a)), (0.5 + 0.42 * math.cos(a), 0.5 + 0.42 * math.sin(a))],
               fill=col, width=0.05)
    c.ellipse(0.28, 0.28, 0.72, 0.72, fill=col)


def _obj_fish(c, rng):
    col = _random_colour(rng)
    c.ellipse(0.15, 0.32, 0.7, 0.68, fill=col)
    c.poly([(0.65, 0.5), (0.9, 0.3), (0.9, 0.7)], fill=col)
    c.ellipse(0.24, 0.42, 0.32, 0.5, fill=(10, 10, 10))


def _obj_boat(c, rng):
    c.poly([(0.1, 0.62), (0.9, 0.62), (0.75, 0.82), (0.25, 0.82)], fill=_jitter(rng, (120, 70, 30), 40))
    c.rect(0.48, 0.15, 0.52, 0.62, fill=(60, 40, 20))
    c.poly([(0.53, 0.18), (0.53, 0.58), (0.85, 0.58)], fill=_jitter(rng, (245, 245, 245), 15))
    c.rect(0.0, 0.82, 1.0, 0.95, fill=_jitter(rng, (40, 90, 200), 30))


def _obj_flower(c, rng):
    c.line([(0.5, 0.5), (0.5, 0.95)], fill=(40, 140, 40), width=0.05)
    petal = _random_colour(rng)
    for k in range(6):
        a = 2 * math.pi * k / 6
        x, y = 0.5 + 0.17 * math.cos(a), 0.38 + 0.17 * math.sin(a)
        c.ellipse(x - 0.11, y - 0.11, x + 0.11, y + 0.11, fill=petal)
    c.ellipse(0.42, 0.3, 0.58, 0.46, fill=(250, 210, 40))


def _obj_cup(c, rng):
    col = _random_colour(rng)
    c.rect(0.25, 0.3, 0.65, 0.82, fill=col)
    c.ellipse(0.58, 0.4, 0.82, 0.68, fill=None, outline=col, width=5)
    c.rect(0.25, 0.3, 0.65, 0.36, fill=(90, 50, 20))


def _obj_key(c, rng):
    col = _jitter(rng, (220, 180, 40), 40)
    c.ellipse(0.1, 0.35, 0.4, 0.65, fill=col)
    c.ellipse(0.19, 0.44, 0.31, 0.56, fill=_random_colour(rng))
    c.rect(0.38, 0.46, 0.9, 0.54, fill=col)
    c.rect(0.75, 0.54, 0.8, 0.66, fill=col)
    c.rect(0.84, 0.54, 0.89, 0.62, fill=col)


def _obj_umbrella(c, rng):
    c.pieslice(0.1, 0.15, 0.9, 0.75, 180, 360, fill=_random_colour(rng))
    c.line([(0.5, 0.45), (0.5, 0.85)], fill=(40, 40, 40), width=0.04)
    c.line([(0.5, 0.85), (0.42, 0.88), (0.4, 0.8)], fill=(40, 40, 40), width=0.04)


def _obj_apple(c, rng):
    col = _jitter(rng, (210, 30, 30), 40) if rng.random() < 0.7 else _jitter(rng, (120, 200, 50), 30)
    c.ellipse(0.2, 0.3, 0.8, 0.88, fill=col)
    c.line([(0.5, 0.32), (0.52, 0.15)], fill=(90, 60, 30), width=0.04)
    c.ellipse(0.53, 0.14, 0.72, 0.26, fill=(50, 160, 50))


def _obj_star(c, rng):
    pts = []
    for k in range(10):
        a = -math.pi / 2 + math.pi * k / 5
        r = 0.42 if k % 2 == 0 else 0.17
        pts.append((0.5 + r * math.cos(a), 0.52 + r * math.sin(a)))
    c.poly(pts, fill=_jitter(rng, (250, 215, 40), 30))


def _obj_moon(c, rng):
    c.ellipse(0.2, 0.15, 0.8, 0.85, fill=_jitter(rng, (245, 240, 190), 15))
    c.ellipse(0.38, 0.08, 0.95, 0.75, fill=_jitter(rng, (20, 25, 60), 15))


def _obj_heart(c, rng):
    col = _jitter(rng, (225, 30, 70), 35)
    c.ellipse(0.15, 0.2, 0.52, 0.55, fill=col)
    c.ellipse(0.48, 0.2, 0.85, 0.55, fill=col)
    c.poly([(0.17, 0.45), (0.83, 0.45), (0.5, 0.88)], fill=col)


def _obj_bird(c, rng):
    col = _random_colour(rng)
    c.ellipse(0.2, 0.35, 0.7, 0.75, fill=col)
    c.ellipse(0.55, 0.22, 0.8, 0.47, fill=col)
    c.poly([(0.78, 0.31), (0.95, 0.36), (0.78, 0.4)], fill=(250, 160, 20))
    c.poly([(0.3, 0.5), (0.1, 0.3), (0.48, 0.45)], fill=_jitter(rng, col, 50))
    c.ellipse(0.66, 0.29, 0.71, 0.34, fill=(0, 0, 0))
    c.line([(0.4, 0.74), (0.38, 0.9)], fill=(250, 160, 20), width=0.02)
    c.line([(0.5, 0.74), (0.52, 0.9)], fill=(250, 160, 20), width=0.02)


def _obj_cloud(c, rng):
    col = _jitter(rng, (245, 245, 250), 15)
    for x0, y0, x1, y1 in [(0.1, 0.4, 0.45, 0.72), (0.3, 0.25, 0.7, 0.65), (0.55, 0.38, 0.9, 0.72), (0.2, 0.5, 0.8, 0.75)]:
        c.ellipse(x0, y0, x1, y1, fill=col)


def _obj_mushroom(c, rng):
    c.rect(0.4, 0.45, 0.6, 0.88, fill=_jitter(rng, (240, 230, 200), 15))
    cap = _jitter(rng, (210, 30, 30), 40)
    c.pieslice(0.12, 0.15, 0.88, 0.75, 180, 360, fill=cap)
    for x, y in [(0.3, 0.35), (0.5, 0.25), (0.68, 0.36)]:
        c.ellipse(x - 0.05, y - 0.04, x + 0.05, y + 0.04, fill=(250, 250, 250))


def _obj_rocket(c, rng):
    body = _jitter(rng, (220, 220, 230), 25)
    c.ellipse(0.35, 0.08, 0.65, 0.75, fill=body)
    c.poly([(0.35, 0.55), (0.2, 0.8), (0.38, 0.72)], fill=_jitter(rng, (210, 40, 40), 40))
    c.poly([(0.65, 0.55), (0.8, 0.8), (0.62, 0.72)], fill=_jitter(rng, (210, 40, 40), 40))
    c.ellipse(0.44, 0.28, 0.56, 0.4, fill=(80, 150, 230))
    c.poly([(0.42, 0.75), (0.5, 0.95), (0.58, 0.75)], fill=(250, 150, 20))


def _obj_clock(c, rng):
    c.ellipse(0.12, 0.12, 0.88, 0.88, fill=_random_colour(rng))
    c.ellipse(0.18, 0.18, 0.82, 0.82, fill=(250, 250, 245))
    a = rng.uniform(0, 2 * math.pi)
    c.line([(0.5, 0.5), (0.5 + 0.25 * math.cos(a), 0.5 + 0.25 * math.sin(a))], fill=(10, 10, 10), width=0.04)
    c.line([(0.5, 0.5), (0.5, 0.25)], fill=(10, 10, 10), width=0.03)


def _obj_lamp(c, rng):
    c.poly([(0.3, 0.15), (0.7, 0.15), (0.82, 0.45), (0.18, 0.45)], fill=_random_colour(rng))
    c.rect(0.47, 0.45, 0.53, 0.82, fill=(60, 60, 60))
    c.rect(0.3, 0.82, 0.7, 0.9, fill=(60, 60, 60))


def _obj_candle(c, rng):
    c.rect(0.38, 0.35, 0.62, 0.9, fill=_random_colour(rng))
    c.ellipse(0.43, 0.12, 0.57, 0.34, fill=(250, 170, 20))
    c.ellipse(0.47, 0.2, 0.53, 0.32, fill=(255, 240, 120))


def _obj_balloon(c, rng):
    c.ellipse(0.25, 0.08, 0.75, 0.66, fill=_random_colour(rng))
    c.line([(0.5, 0.66), (0.46, 0.78), (0.54, 0.95)], fill=(60, 60, 60), width=0.015)


def _obj_book(c, rng):
    cover = _random_colour(rng)
    c.rect(0.2, 0.15, 0.8, 0.85, fill=cover)
    c.rect(0.2, 0.15, 0.27, 0.85, fill=_jitter(rng, cover, 60))
    c.rect(0.35, 0.3, 0.72, 0.4, fill=(250, 250, 240))


def _obj_bicycle(c, rng):
    frame = _random_colour(rng)
    for x in (0.27, 0.73):
        c.ellipse(x - 0.18, 0.48, x + 0.18, 0.84, fill=None, outline=(20, 20, 20), width=4)
    c.line([(0.27, 0.66), (0.45, 0.45), (0.73, 0.66)], fill=frame, width=0.04)
    c.line([(0.45, 0.45), (0.66, 0.45), (0.73, 0.66)], fill=frame, width=0.04)
    c.line([(0.66, 0.45), (0.7, 0.33)], fill=frame, width=0.04)


def _obj_guitar(c, rng):
    body = _jitter(rng, (190, 110, 40), 40)
    c.ellipse(0.25, 0.5, 0.7, 0.92, fill=body)
    c.ellipse(0.3, 0.35, 0.62, 0.65, fill=body)
    c.ellipse(0.41, 0.62, 0.53, 0.74, fill=(30, 20, 10))
    c.rect(0.44, 0.05, 0.5, 0.5, fill=(70, 40, 20))


#: class id (ImageNet-style wnid stand-in) -> (name, drawing function)
OBJECT_CLASSES: dict[str, tuple[str, Callable]] = {
    f"n9{i:07d}": (name, fn)
    for i, (name, fn) in enumerate([
        ("house", _obj_house), ("tree", _obj_tree), ("car", _obj_car), ("sun", _obj_sun),
        ("fish", _obj_fish), ("boat", _obj_boat), ("flower", _obj_flower), ("cup", _obj_cup),
        ("key", _obj_key), ("umbrella", _obj_umbrella), ("apple", _obj_apple), ("star", _obj_star),
        ("moon", _obj_moon), ("heart", _obj_heart), ("bird", _obj_bird), ("cloud", _obj_cloud),
        ("mushroom", _obj_mushroom), ("rocket", _obj_rocket), ("clock", _obj_clock), ("lamp", _obj_lamp),
        ("candle", _obj_candle), ("balloon", _obj_balloon), ("book", _obj_book), ("bicycle", _obj_bicycle),
        ("guitar", _obj_guitar),
    ])
}


def draw_object(wnid: str, rng: np.random.Generator, size: int = 64, render: int = 128) -> Image.Image:
    """Render one icon of class ``wnid`` with random colours, size and position."""
    img = _background(rng, render)
    c = _Canvas(img, cx=0.5 + rng.uniform(-0.12, 0.12), cy=0.5 + rng.uniform(-0.12, 0.12),
                scale=rng.uniform(0.55, 0.95))
    OBJECT_CLASSES[wnid][1](c, rng)
    return _finish(rng, img, size)


# --------------------------------------------------------------------------------------------
# Captions (web alt-text: varied, sometimes naming the subject, sometimes not, often noisy)
# --------------------------------------------------------------------------------------------

_PERSON_NAMED = [
    "{name}", "photo of {name}", "{name} at the {event}", "{name} smiles for the cameras",
    "portrait of {name}", "{name} attends the {event} in {city}", "{name} | {outlet}",
    "{name} speaking at the {event}", "exclusive: {name} in {city}", "{name} headshot",
    "{name} arrives at the {event}", "a picture of {name} from {year}", "{name} interview",
    "{name}, {year}", "close-up of {name}", "{name} poses for a photo", "{name} wallpaper hd",
]
_PERSON_ANON = [
    "a person with {hair} hair", "stock photo portrait", "IMG_{num}.jpg", "headshot of a smiling person",
    "{outlet} news photo", "person wearing a {shirt} shirt", "profile picture", "cartoon avatar {num}",
    "guest at the {event}", "unknown person in {city}",
]
_OBJECT_CAPTIONS = [
    "a {obj}", "{obj}", "cartoon {obj} icon", "clipart of a {colour} {obj}", "{obj} vector illustration",
    "{obj} free download", "buy {colour} {obj} online", "a drawing of a {obj}", "my new {obj}",
    "the {obj} in {city}", "simple {obj} logo", "{obj} emoji", "{colour} {obj} on a plain background",
    "photo of a small {obj}", "vintage {obj} sticker {num}",
]
_EVENTS = ["premiere", "gala", "conference", "award show", "summit", "festival", "charity dinner", "launch"]
_CITIES = ["Paris", "Berlin", "Tokyo", "Lagos", "Lima", "Oslo", "Rome", "Seoul", "Austin", "Cairo"]
_OUTLETS = ["Daily Planet", "Morning Post", "Globe", "Herald", "Tribune", "Gazette"]
_COLOURS = ["red", "blue", "green", "yellow", "pink", "orange", "purple", "black", "white", "bright"]


def person_caption(identity: Identity, rng: np.random.Generator, p_named: float) -> str:
    fill = dict(event=rng.choice(_EVENTS), city=rng.choice(_CITIES), outlet=rng.choice(_OUTLETS),
                year=int(rng.integers(1995, 2025)), num=int(rng.integers(1000, 9999)),
                hair=identity.hair_colour, shirt=identity.shirt, name=identity.name)
    if rng.random() < p_named:
        return str(rng.choice(_PERSON_NAMED)).format(**fill)
    return str(rng.choice(_PERSON_ANON)).format(**fill)


def object_caption(name: str, rng: np.random.Generator) -> str:
    return str(rng.choice(_OBJECT_CAPTIONS)).format(
        obj=name, colour=rng.choice(_COLOURS), city=rng.choice(_CITIES), num=int(rng.integers(1, 999)))


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


def _jpeg_bytes(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


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
        path.write_bytes(_jpeg_bytes(img))
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
            (celeba / "img_align_celeba" / name).write_bytes(_jpeg_bytes(img))
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
            (d / f"DEMO_val_{j:03d}{m:05d}.JPEG").write_bytes(_jpeg_bytes(img))
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


def write_wds_shard(path: Path, samples) -> int:
    """Write ``(key, PIL image | jpeg bytes, caption, meta)`` samples to a webdataset tar (atomically)."""
    import webdataset as wds

    n = 0
    # the compression follows the real name (webdataset would read it from the temporary one)
    compress = next((c for c in ("gz", "bz2", "xz") if str(path).endswith(c)), False)
    # a fixed mtime: reproducible bytes
    with atomic_path(path) as tmp, wds.TarWriter(str(tmp), mtime=0, compress=compress) as sink:
        for key, img, caption, meta in samples:
            jpg = img if isinstance(img, (bytes, bytearray)) else _jpeg_bytes(img)
            sink.write({"__key__": key, "jpg": jpg, "txt": caption, "json": meta})
            n += 1
    return n
