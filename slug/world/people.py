"""The demo world's identities (traits that overlap, names) and their portraits."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from slug.world.canvas import _background, _Canvas, _finish, _jitter

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


