"""The demo world's art styles: image transformations applied to any finished image (person, character, object).

Each style is a distinct, seeded transformation a classifier can tell apart (brush swirls, halftone
dots, flat colour fields, hatching, tiles, bleeding washes, ...), named after the real style it
imitates where that is natural. A style works on the image upsampled to twice its size and returns
it at its original size, so a style drawn on a 64-pixel image has the detail of a 128-pixel one.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

Array = np.ndarray  # float32 [H, W, 3] in 0..255


def _grey(a: Array) -> Array:
    return a @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _edges(a: Array, blur: float = 0.0) -> Array:
    """Gradient magnitude of the luminance, 0..1."""
    g = _grey(a)
    if blur:
        g = np.asarray(Image.fromarray(g.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(blur)),
                       np.float32)
    gx, gy = np.zeros_like(g), np.zeros_like(g)
    gx[:, 1:-1], gy[1:-1] = g[:, 2:] - g[:, :-2], g[2:] - g[:-2]
    m = np.hypot(gx, gy)
    return (m / (m.max() + 1e-6)).astype(np.float32)


def _blur(a: Array, radius: float) -> Array:
    return np.asarray(Image.fromarray(a.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius)),
                      np.float32)


def _quantize(a: Array, k: int) -> tuple[np.ndarray, Array]:
    """k-colour quantisation (PIL median cut): (index map [H, W], palette [k, 3])."""
    q = Image.fromarray(a.clip(0, 255).astype(np.uint8)).quantize(colors=k, method=Image.Quantize.MEDIANCUT)
    pal = np.array(q.getpalette()[: 3 * k], np.float32).reshape(-1, 3)
    return np.asarray(q), pal


def _saturate(a: Array, f: float) -> Array:
    g = _grey(a)[..., None]
    return g + (a - g) * f


def _grid(h: int, w: int) -> tuple[Array, Array]:
    return np.mgrid[0:h, 0:w].astype(np.float32)


def van_gogh(a: Array, rng: np.random.Generator) -> Array:
    """Swirling brush strokes: colours smeared along a field of eddies, blues and yellows boosted."""
    h, w, _ = a.shape
    yy, xx = _grid(h, w)
    cx, cy = rng.uniform(0, w, 3), rng.uniform(0, h, 3)
    ang = sum(np.arctan2(yy - y0, xx - x0) + np.pi / 2 for x0, y0 in zip(cx, cy)) + 0.15 * np.sin(yy / 7.0)
    dx, dy = np.cos(ang), np.sin(ang)
    acc = np.zeros_like(a)
    for t in np.linspace(-7, 7, 11):
        xs, ys = np.clip(xx + t * dx, 0, w - 1).astype(int), np.clip(yy + t * dy, 0, h - 1).astype(int)
        acc += a[ys, xs]
    out = acc / 11
    stroke = np.sin((xx * dy - yy * dx) * 1.3 + rng.uniform(0, 6.3))[..., None]
    out = _saturate(out, 1.7) * (1 + 0.3 * stroke)
    return out * np.array([0.85, 0.9, 1.15], np.float32) + np.array([10, 10, 0], np.float32) * (stroke + 1)


def pop_art(a: Array, rng: np.random.Generator) -> Array:
    """Halftone pop art: four flat vivid colours, a dot screen, black outlines."""
    idx, _ = _quantize(_blur(a, 1.0), 4)
    pal = np.array([(255, 230, 0), (255, 40, 120), (0, 170, 255), (255, 120, 0), (120, 255, 80)], np.float32)
    pal = pal[rng.permutation(len(pal))[:4]]
    out = pal[idx]
    h, w, _ = a.shape
    yy, xx = _grid(h, w)
    cell = 6.0
    d = np.hypot((xx % cell) - cell / 2, (yy % cell) - cell / 2)
    dots = (d < 1.2 + 1.4 * (1 - _grey(a) / 255)).astype(np.float32)[..., None]
    out = out * (1 - 0.55 * dots)
    return out * (1 - (_edges(a, 1.0) > 0.25)[..., None])


def ukiyoe(a: Array, rng: np.random.Generator) -> Array:
    """Woodblock print: flat fields of five muted colours, dark key lines, beige paper with a grain."""
    idx, pal = _quantize(_blur(a, 1.5), 5)
    order = np.argsort(_grey(pal))
    muted = np.array([(40, 50, 80), (170, 60, 45), (70, 120, 120), (200, 170, 120), (240, 228, 200)], np.float32)
    lut = np.empty(len(pal), int)
    lut[order] = np.arange(len(pal))
    out = muted[lut[idx]]
    h, w, _ = a.shape
    yy, _ = _grid(h, w)
    grain = 6 * np.sin(yy * 0.9 + rng.normal(0, 0.6, (h, w)))[..., None]
    return out * (1 - 0.85 * (_edges(a, 1.5) > 0.18)[..., None]) + grain


def pencil_drawing(a: Array, rng: np.random.Generator) -> Array:
    """Graphite on paper: a colour-dodge sketch of the shapes and diagonal hatching in the dark areas."""
    g = _grey(a)
    inv_blur = _blur(np.repeat((255 - g)[..., None], 3, 2), 3.0)[..., 0]
    sketch = np.clip(g * 255 / (256 - inv_blur), 0, 255)
    h, w = g.shape
    yy, xx = _grid(h, w)
    hatch = ((xx + yy + rng.integers(0, 5)) % 5 < 1).astype(np.float32)
    tone = np.where(g < 110, sketch * (1 - 0.45 * hatch), sketch)
    tone = 0.35 * tone + 0.65 * 255 * (1 - _edges(a, 0.8) * 1.6).clip(0, 1)
    return np.repeat(tone[..., None], 3, 2) * np.array([0.97, 0.97, 1.0], np.float32)


def mosaic(a: Array, rng: np.random.Generator) -> Array:
    """Square tiles of one colour each, slightly varied, set in light grout."""
    h, w, _ = a.shape
    t = 8
    small = a[: h - h % t, : w - w % t].reshape(h // t, t, w // t, t, 3).mean(axis=(1, 3))
    small = _saturate(small, 1.3) + rng.normal(0, 10, small.shape)
    out = np.repeat(np.repeat(small, t, 0), t, 1)
    out = np.pad(out, ((0, h - out.shape[0]), (0, w - out.shape[1]), (0, 0)), mode="edge")
    yy, xx = _grid(h, w)
    grout = ((yy % t < 1.5) | (xx % t < 1.5))[..., None]
    return np.where(grout, np.float32(215), out)


def watercolor(a: Array, rng: np.random.Generator) -> Array:
    """Washes that bleed: soft pale colour, pigment pooled at the edges of each wash, paper texture."""
    soft = _blur(a, 3.0)
    idx, pal = _quantize(soft, 6)
    wash = 0.55 * pal[idx] + 0.45 * 255
    pool = (_edges(pal[idx], 0.0) > 0.05)[..., None]
    out = np.where(pool, wash * 0.78, wash)
    paper = _blur(np.repeat(rng.normal(0, 40, a.shape[:2])[..., None], 3, 2) + 128, 1.0) - 128
    return _blur(out, 0.8) + 0.25 * paper


def pixel_art(a: Array, rng: np.random.Generator) -> Array:
    """Large square pixels of an eight-colour palette."""
    h, w, _ = a.shape
    n = int(rng.integers(14, 19))
    small = Image.fromarray(a.clip(0, 255).astype(np.uint8)).resize((n, n), Image.BILINEAR)
    small = small.quantize(colors=8, method=Image.Quantize.MEDIANCUT).convert("RGB")
    return _saturate(np.asarray(small.resize((w, h), Image.NEAREST), np.float32), 1.4)


def neon(a: Array, rng: np.random.Generator) -> Array:
    """Glowing outlines in a saturated colour on black."""
    e = _edges(a, 1.0)
    hue = np.array([(255, 40, 200), (40, 255, 240), (120, 255, 40), (255, 230, 40)], np.float32)[int(rng.integers(4))]
    line = np.clip(e * 2.5, 0, 1)[..., None] * hue
    glow = _blur(line, 3.0)
    return np.clip(line + 1.5 * glow, 0, 255) + 8


def sepia(a: Array, rng: np.random.Generator) -> Array:
    """An old brown photograph: sepia tones, a dark vignette, film grain and a few scratches."""
    g = _grey(a)[..., None]
    out = g * np.array([1.07, 0.85, 0.62], np.float32) + np.array([20, 10, 0], np.float32)
    h, w, _ = a.shape
    yy, xx = _grid(h, w)
    r = np.hypot((xx - w / 2) / w, (yy - h / 2) / h)
    out = out * (1 - 1.4 * np.clip(r - 0.25, 0, 1) ** 1.2)[..., None]
    out = out + rng.normal(0, 9, (h, w, 1))
    for x in rng.integers(0, w, 2):
        out[:, x : x + 1] += 40
    return out


def stained_glass(a: Array, rng: np.random.Generator) -> Array:
    """Cells of glowing flat colour set in black lead lines (a Voronoi tessellation)."""
    h, w, _ = a.shape
    n = 48
    py, px = rng.uniform(0, h, n), rng.uniform(0, w, n)
    yy, xx = _grid(h, w)
    d = (yy[None] - py[:, None, None]) ** 2 + (xx[None] - px[:, None, None]) ** 2
    order = np.argsort(d, axis=0)
    cell, second = order[0], order[1]
    gap = np.sqrt(np.take_along_axis(d, second[None], 0)[0]) - np.sqrt(np.take_along_axis(d, cell[None], 0)[0])
    flat = a.reshape(-1, 3)
    sums = np.zeros((n, 3), np.float64)
    np.add.at(sums, cell.ravel(), flat)
    counts = np.bincount(cell.ravel(), minlength=n)[:, None]
    colours = _saturate((sums / np.maximum(counts, 1)).astype(np.float32), 1.8) * 1.1
    out = colours[cell]
    return np.where((gap < 2.2)[..., None], np.float32(15), out)


def pointillism(a: Array, rng: np.random.Generator) -> Array:
    """Dots of pure colour on a white ground, sampled from the image (Seurat)."""
    h, w, _ = a.shape
    out = np.full_like(a, 245)
    src = _saturate(a, 1.7)
    n = int(h * w / 9)
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    yy, xx = _grid(5, 5)
    disc = np.hypot(yy - 2, xx - 2) <= 2.1
    for dy, dx in zip(*np.nonzero(disc)):
        y, x = np.clip(ys + dy - 2, 0, h - 1), np.clip(xs + dx - 2, 0, w - 1)
        out[y, x] = src[ys, xs]
    return out


def blueprint(a: Array, rng: np.random.Generator) -> Array:
    """White technical lines on blueprint blue, over a fine grid."""
    h, w, _ = a.shape
    yy, xx = _grid(h, w)
    base = np.broadcast_to(np.array([25, 70, 150], np.float32), a.shape).copy()
    grid = ((yy % 12 < 1) | (xx % 12 < 1))[..., None]
    base = np.where(grid, base + 35, base)
    line = np.clip(_edges(a, 0.7) * 3.0, 0, 1)[..., None]
    return base * (1 - line) + 240 * line + rng.normal(0, 3, (h, w, 1))


#: style name -> transformation; the names follow the real styles (UnlearnCanvas has Van Gogh, Pop Art,
#: Ukiyoe, Pencil Drawing, Mosaic, Watercolor among its 50).
STYLES: dict[str, Callable[[Array, np.random.Generator], Array]] = {
    "Van Gogh": van_gogh, "Pop Art": pop_art, "Ukiyoe": ukiyoe, "Pencil Drawing": pencil_drawing,
    "Mosaic": mosaic, "Watercolor": watercolor, "Pixel Art": pixel_art, "Neon": neon, "Sepia": sepia,
    "Stained Glass": stained_glass, "Pointillism": pointillism, "Blueprint": blueprint,
}


def style_names(n: int) -> list[str]:
    """The first ``n`` styles of :data:`STYLES`."""
    if not 0 <= n <= len(STYLES):
        raise ValueError(f"world.n_styles must be between 0 and {len(STYLES)}, got {n}")
    return list(STYLES)[:n]


def apply_style(img: Image.Image, style: str, rng: np.random.Generator) -> Image.Image:
    """``img`` in ``style`` (same size): the style runs at twice the size, then the result is resized back."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}: the demo world's styles are {list(STYLES)}")
    w, h = img.size
    big = np.asarray(img.convert("RGB").resize((2 * w, 2 * h), Image.BICUBIC), np.float32)
    out = STYLES[style](big, rng)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)).resize((w, h), Image.BILINEAR)
