"""Cost of one step-size-search evaluation against a full evaluation (issue: performance).

Builds the architecture with random weights (no download needed; the cost does not depend on the
weights), a synthetic evaluation set of the demo's size, and times:
  full   = every image feature and every text classifier recomputed (what the reference does);
  text   = a text-tower edit: cached image features, classifiers recomputed;
  vision = a vision-tower edit: cached classifiers, image features recomputed.
Prints the ratios. Usage: python benchmarks/search_eval.py [--arch SLUG-Demo-ViT] [--images 1800]
"""
from __future__ import annotations

import argparse
import time

import torch

from slug.evaluation import CachedEvaluator, EvalSet
from slug.models import load_clip


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="SLUG-Demo-ViT")
    ap.add_argument("--identities", type=int, default=60)
    ap.add_argument("--images", type=int, default=1800, help="identity images (the demo's search half)")
    ap.add_argument("--objects", type=int, default=625, help="object images")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    b = load_clip(args.arch)
    b.model.eval()
    size = b.model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    es = EvalSet(torch.randn(args.images, 3, size, size), torch.arange(args.images) % args.identities,
                 [f"Person {i}" for i in range(args.identities)], torch.randn(args.objects, 3, size, size),
                 torch.arange(args.objects) % 25, [f"object {i}" for i in range(25)])
    ev = CachedEvaluator(b.model, b.tokenizer, es, target=0)
    params = dict(b.model.named_parameters())
    text_layer = "transformer.resblocks.0.attn.out_proj.weight"
    vision_layer = "visual.proj"
    full = best_of(ev.evaluate_uncached, args.repeats)
    text = best_of(lambda: ev.evaluate({text_layer: 1e-3 * torch.randn_like(params[text_layer])}), args.repeats)
    vision = best_of(lambda: ev.evaluate({vision_layer: 1e-3 * torch.randn_like(params[vision_layer])}), args.repeats)
    print(f"arch {args.arch}, {args.images} identity + {args.objects} object images, {args.threads} threads")
    print(f"full evaluation        {full:8.3f} s")
    print(f"text-tower edit        {text:8.3f} s   ratio {text / full:.3f}")
    print(f"vision-tower edit      {vision:8.3f} s   ratio {vision / full:.3f}")


if __name__ == "__main__":
    main()
