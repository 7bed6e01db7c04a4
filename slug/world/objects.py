"""The demo world's object icons: the ImageNet stand-in."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PIL import Image

from slug.world.canvas import _background, _Canvas, _finish, _jitter, _random_colour


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


