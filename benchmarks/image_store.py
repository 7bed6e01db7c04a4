"""Memory and time of holding evaluation images as uint8 pixels (``slug.data.ImageStore``) against
float tensors (what the transform returns, and what the pipeline held before).

Writes ``--images`` synthetic JPEGs at ``--size`` px (LAION/CelebA-like: photos larger than the model's
input), loads them through the architecture's own preprocessing both ways, checks the two agree bit
for bit, and prints: bytes held (float / uint8), load time (uint8 / float) and the time of encoding
every image with the model (uint8, normalised per batch / float).
Usage: python benchmarks/image_store.py [--arch ViT-B-32-quickgelu] [--images 128] [--size 256] [--repeats 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from slug.data import load_images
from slug.clip.models import load_clip
from slug.clip.zeroshot import encode_images


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="ViT-B-32-quickgelu")
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    bundle = load_clip(args.arch)
    model, tf = bundle.model.eval(), bundle.preprocess_val
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i in range(args.images):
            p = Path(d) / f"{i:05d}.jpg"
            Image.fromarray(rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)).save(p, quality=90)
            paths.append(str(p))
        t0 = time.perf_counter()
        store = load_images(paths, tf)
        t_store = time.perf_counter() - t0
        t0 = time.perf_counter()
        floats = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])
        t_float = time.perf_counter() - t0
    assert torch.equal(store.to("cpu"), floats), "the store does not give what the transform gives"
    fb = floats.numel() * floats.element_size()
    encode_images(model, store[:8]), encode_images(model, floats[:8])  # warm-up
    times: dict[str, list[float]] = {"uint8": [], "float": []}
    for _ in range(args.repeats):  # alternated, best of each: the machine's noise hits both alike
        for name, images in (("uint8", store), ("float", floats)):
            t0 = time.perf_counter()
            feats = encode_images(model, images)
            times[name].append(time.perf_counter() - t0)
            if name == "uint8":
                a = feats
            else:
                assert torch.equal(a, feats)
    e_store, e_float = min(times["uint8"]), min(times["float"])
    print(f"{args.arch}, {args.images} images of {args.size} px -> {tuple(store.shape[1:])}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"bytes held: float {fb / 2**20:.1f} MiB, uint8 {store.nbytes / 2**20:.1f} MiB, ratio {fb / store.nbytes:.2f}")
    print(f"load: uint8 {t_store:.2f} s, float {t_float:.2f} s, ratio {t_store / t_float:.3f}")
    print(f"encode all (best of {args.repeats}): uint8 {e_store:.2f} s, float {e_float:.2f} s, "
          f"ratio {e_store / e_float:.3f} "
          "(features identical)")


if __name__ == "__main__":
    main()
