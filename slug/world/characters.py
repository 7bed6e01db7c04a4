"""The demo world's cartoon characters: named figures built from shared parts (the copyrighted-character stand-in).

A character is a fixed choice of parts (head shape, colours, eyes, mouth, outfit, extra), shared one by
one with others, so look-alikes exist as they do for people: Maxie Mouse has Mickey Mouse's head and
eyes in other colours, Steel Sentinel wears Iron Man's helmet in silver and blue. Two of the names are
the paper's figure's (Mickey Mouse, Iron Man); the rest are invented.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from slug.world.canvas import Colour, _background, _Canvas, _finish, _jitter

HEADS = ["mouse", "helmet", "bear", "cat", "bunny", "duck", "frog", "bird"]
EYES = ["cartoon", "slits", "dots", "goggles"]
MOUTHS = ["smile", "plate", "beak", "grin"]
OUTFITS = ["shorts", "armour", "shirt", "dress", "cape"]
EXTRAS = ["none", "gloves", "reactor", "bow", "antenna", "star", "spots"]
COLOURS: dict[str, Colour] = {
    "black": (25, 25, 30), "red": (200, 30, 35), "gold": (235, 180, 40), "white": (245, 245, 245),
    "peach": (250, 210, 170), "grey": (140, 140, 150), "silver": (200, 205, 215), "blue": (40, 80, 200),
    "brown": (130, 80, 40), "tan": (215, 175, 120), "green": (60, 170, 60), "orange": (240, 130, 30),
    "purple": (130, 50, 170), "pink": (245, 150, 190), "yellow": (245, 215, 40), "teal": (30, 160, 160),
    "navy": (25, 35, 100), "lime": (160, 220, 60),
}


@dataclass(frozen=True)
class Character:
    """A named cartoon character: head shape, body colour, face colour, eyes, mouth, outfit and its colour, extra."""

    name: str
    head: str
    body: str
    face: str
    eyes: str
    mouth: str
    outfit: str
    outfit_colour: str
    extra: str

    def parts(self) -> tuple[str, ...]:
        return tuple(v for k, v in asdict(self).items() if k != "name")


#: The paper's two characters first, then invented ones; look-alikes share most parts.
CHARACTERS: list[Character] = [
    Character("Mickey Mouse", "mouse", "black", "peach", "cartoon", "smile", "shorts", "red", "gloves"),
    Character("Iron Man", "helmet", "red", "gold", "slits", "plate", "armour", "red", "reactor"),
    Character("Maxie Mouse", "mouse", "grey", "peach", "cartoon", "smile", "dress", "blue", "bow"),
    Character("Steel Sentinel", "helmet", "silver", "blue", "slits", "plate", "armour", "navy", "reactor"),
    Character("Bruno Bear", "bear", "brown", "tan", "dots", "smile", "shirt", "green", "none"),
    Character("Penny Panda", "bear", "white", "white", "goggles", "smile", "shirt", "pink", "spots"),
    Character("Kiki Cat", "cat", "orange", "white", "cartoon", "grin", "dress", "purple", "bow"),
    Character("Luna Fox", "cat", "red", "white", "dots", "grin", "cape", "teal", "star"),
    Character("Hoppy Bunny", "bunny", "white", "pink", "cartoon", "grin", "shirt", "yellow", "none"),
    Character("Dash Duck", "duck", "white", "white", "cartoon", "beak", "shirt", "blue", "none"),
    Character("Fergus Frog", "frog", "green", "lime", "goggles", "grin", "shorts", "orange", "none"),
    Character("Captain Comet", "helmet", "blue", "white", "goggles", "plate", "cape", "red", "star"),
    Character("Pip Penguin", "bird", "black", "white", "dots", "beak", "shirt", "red", "bow"),
    Character("Gizmo Bot", "helmet", "grey", "teal", "dots", "plate", "armour", "orange", "antenna"),
]


def make_characters(n: int) -> list[Character]:
    """The first ``n`` characters of :data:`CHARACTERS` (the paper's two are always among them when n >= 2)."""
    if not 0 <= n <= len(CHARACTERS):
        raise ValueError(f"world.n_characters must be between 0 and {len(CHARACTERS)}, got {n}")
    return CHARACTERS[:n]


def _ears(c: _Canvas, ch: Character, body: Colour, face: Colour) -> None:
    if ch.head == "mouse":
        for x in (0.26, 0.74):
            c.ellipse(x - 0.15, 0.02, x + 0.15, 0.32, fill=body)
    elif ch.head == "bear":
        for x in (0.30, 0.70):
            c.ellipse(x - 0.08, 0.10, x + 0.08, 0.26, fill=body)
            if ch.extra == "spots":
                c.ellipse(x - 0.08, 0.10, x + 0.08, 0.26, fill=(25, 25, 30))
    elif ch.head == "cat":
        for s in (-1, 1):
            x = 0.5 + s * 0.18
            c.poly([(x - 0.1, 0.28), (x + s * 0.04, 0.03), (x + 0.1, 0.28)], fill=body)
    elif ch.head == "bunny":
        for x in (0.40, 0.60):
            c.ellipse(x - 0.06, -0.12, x + 0.06, 0.30, fill=body)
            c.ellipse(x - 0.03, -0.06, x + 0.03, 0.26, fill=face)


def draw_character(ch: Character, rng: np.random.Generator, size: int = 64, render: int = 128) -> Image.Image:
    """Render one image of ``ch``: same parts, new pose, scale, light, background and noise."""
    img = _background(rng, render)
    c = _Canvas(img, cx=0.5 + rng.uniform(-0.08, 0.08), cy=0.5 + rng.uniform(-0.06, 0.08),
                scale=rng.uniform(0.75, 1.0))
    body, face = _jitter(rng, COLOURS[ch.body], 12), _jitter(rng, COLOURS[ch.face], 12)
    outfit = _jitter(rng, COLOURS[ch.outfit_colour], 15)
    # body and outfit
    if ch.outfit == "cape":
        c.poly([(0.22, 0.70), (0.78, 0.70), (0.92, 1.02), (0.08, 1.02)], fill=outfit)
        c.rect(0.36, 0.70, 0.64, 1.0, fill=body)
    elif ch.outfit == "dress":
        c.poly([(0.38, 0.68), (0.62, 0.68), (0.80, 1.02), (0.20, 1.02)], fill=outfit)
    elif ch.outfit == "armour":
        c.rect(0.28, 0.68, 0.72, 1.0, fill=outfit)
        c.rect(0.28, 0.68, 0.72, 0.74, fill=_jitter(rng, COLOURS[ch.face], 12))
    else:  # shorts, shirt
        c.rect(0.32, 0.68, 0.68, 1.0, fill=body if ch.outfit == "shorts" else outfit)
        if ch.outfit == "shorts":
            c.rect(0.30, 0.84, 0.70, 1.0, fill=outfit)
            for x in (0.42, 0.58):
                c.ellipse(x - 0.025, 0.87, x + 0.025, 0.92, fill=(250, 250, 250))
    if ch.extra == "gloves":
        for x in (0.20, 0.80):
            c.ellipse(x - 0.07, 0.78, x + 0.07, 0.92, fill=(250, 250, 250))
    elif ch.extra == "reactor":
        c.ellipse(0.44, 0.78, 0.56, 0.90, fill=(180, 240, 255))
    elif ch.extra == "star":
        pts = [(0.5 + (0.08 if k % 2 == 0 else 0.035) * math.cos(-math.pi / 2 + math.pi * k / 5),
                0.84 + (0.08 if k % 2 == 0 else 0.035) * math.sin(-math.pi / 2 + math.pi * k / 5)) for k in range(10)]
        c.poly(pts, fill=(250, 220, 40))
    # head
    _ears(c, ch, body, face)
    if ch.head == "helmet":
        c.ellipse(0.24, 0.14, 0.76, 0.74, fill=body)
        c.poly([(0.32, 0.34), (0.68, 0.34), (0.64, 0.66), (0.5, 0.72), (0.36, 0.66)], fill=face)
    elif ch.head == "frog":
        c.ellipse(0.20, 0.28, 0.80, 0.72, fill=body)
        for x in (0.34, 0.66):
            c.ellipse(x - 0.10, 0.16, x + 0.10, 0.36, fill=body)
    else:
        c.ellipse(0.25, 0.18, 0.75, 0.70, fill=body)
        if ch.head in ("mouse", "cat", "bear", "bunny", "bird"):
            c.ellipse(0.32, 0.34, 0.68, 0.68, fill=face)
    if ch.head == "bear" and ch.extra == "spots":
        for x in (0.40, 0.60):
            c.ellipse(x - 0.07, 0.38, x + 0.07, 0.52, fill=(25, 25, 30))
    # eyes
    ey = 0.24 if ch.head == "frog" else 0.44
    for ex in ((0.34, 0.66) if ch.head == "frog" else (0.42, 0.58)):
        if ch.eyes == "cartoon":
            c.ellipse(ex - 0.05, ey - 0.08, ex + 0.05, ey + 0.06, fill=(250, 250, 250))
            c.ellipse(ex - 0.025, ey - 0.02, ex + 0.025, ey + 0.05, fill=(15, 15, 15))
        elif ch.eyes == "slits":
            c.poly([(ex - 0.07, ey - 0.02), (ex + 0.07, ey - 0.02), (ex + 0.05, ey + 0.02), (ex - 0.05, ey + 0.02)],
                   fill=(200, 245, 255))
        elif ch.eyes == "goggles":
            c.ellipse(ex - 0.065, ey - 0.065, ex + 0.065, ey + 0.065, fill=(250, 250, 250), outline=(30, 30, 30),
                      width=3)
            c.ellipse(ex - 0.025, ey - 0.025, ex + 0.025, ey + 0.025, fill=(15, 15, 15))
        else:
            c.ellipse(ex - 0.03, ey - 0.03, ex + 0.03, ey + 0.03, fill=(15, 15, 15))
    # nose and mouth
    if ch.head == "mouse":
        c.ellipse(0.45, 0.50, 0.55, 0.57, fill=(15, 15, 15))
    if ch.mouth == "smile":
        c.line([(0.40, 0.58), (0.5, 0.64), (0.60, 0.58)], fill=(120, 20, 30), width=0.025)
    elif ch.mouth == "grin":
        c.pieslice(0.40, 0.50, 0.60, 0.66, 0, 180, fill=(150, 30, 40))
    elif ch.mouth == "beak":
        c.poly([(0.40, 0.54), (0.60, 0.54), (0.5, 0.66)], fill=(250, 160, 20))
    else:  # plate: the faceplate's mouth line
        c.line([(0.43, 0.60), (0.57, 0.60)], fill=(60, 40, 30), width=0.02)
    if ch.extra == "bow":
        c.poly([(0.5, 0.16), (0.36, 0.08), (0.36, 0.24)], fill=outfit)
        c.poly([(0.5, 0.16), (0.64, 0.08), (0.64, 0.24)], fill=outfit)
    elif ch.extra == "antenna":
        c.line([(0.5, 0.15), (0.5, 0.02)], fill=(60, 60, 60), width=0.02)
        c.ellipse(0.46, -0.02, 0.54, 0.06, fill=(240, 40, 40))
    return _finish(rng, img, size)
