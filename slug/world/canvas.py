"""Drawing helpers shared by the demo world's people and objects (PIL on a supersampled canvas)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

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

