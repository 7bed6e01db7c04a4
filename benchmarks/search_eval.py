"""Cost of one step-size-search evaluation against a full evaluation (issue: performance).

Builds the architecture with random weights (no download needed; the cost does not depend on the
weights), a synthetic evaluation set of the demo's size, and times, for edits at every depth:
  full      = every image feature and every text classifier recomputed (what the reference does);
  iteration = ``CachedEvaluator.evaluate`` with the activations entering the edited stage cached
              (steady state: what each search iteration after a layer's first one costs);
  first     = the layer's first iteration, which also fills the cache (paid once per layer).
The "search mix" weights the per-layer ratios by the iterations the demo's search spent on each
layer (``--search-tsv``, default results/elon_musk/search.tsv when it exists).
Usage: python benchmarks/search_eval.py [--arch SLUG-Demo-ViT] [--images 1800] [--objects 2500]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from slug.clip.evaluation import CachedEvaluator, EvalSet
from slug.clip.models import load_clip, pick_device


def best_of(fn, repeats: int, sync=lambda: None) -> float:
    """The fastest of ``repeats`` calls; ``sync`` (torch.cuda.synchronize on a GPU) makes timings include the kernels."""
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def time_layer(ev: CachedEvaluator, params: dict, layer: str, repeats: int, sync) -> dict[str, float]:
    """Seconds of a layer's first evaluation (fills its cache), a cached full one and a forget-only one."""
    delta = {layer: 1e-3 * torch.randn_like(params[layer])}
    ev.clear_cache()
    first = best_of(lambda: ev.evaluate(delta), 1, sync)
    return {"first": first, "cache": ev.cache_bytes(),
            "iteration": best_of(lambda: ev.evaluate(delta), repeats, sync),
            "forget": best_of(lambda: ev.evaluate(delta, forget_only=True), repeats, sync)}


def probe_layers(model, every_block: bool) -> list[str]:
    """One tensor per stage kind: embeddings, each block's attention and MLP half (or a few blocks), projection."""
    out = []
    for prefix, blocks, head in (("visual.", model.visual.transformer.resblocks, ["visual.ln_post.weight", "visual.proj"]),
                                 ("", model.transformer.resblocks, ["ln_final.weight", "text_projection"])):
        L = len(blocks)
        out.append("visual.conv1.weight" if prefix else "token_embedding.weight")
        if every_block:
            for i in range(L):
                out += [f"{prefix}transformer.resblocks.{i}.attn.out_proj.weight",
                        f"{prefix}transformer.resblocks.{i}.mlp.c_fc.weight"]
            out += head
        else:  # first, middle and last block (attention half), the projection
            out += [f"{prefix}transformer.resblocks.{i}.attn.out_proj.weight" for i in sorted({0, L // 2, L - 1})]
            out += head[1:]
    return out


def search_weights(path: str | None) -> dict[str, tuple[int, int]]:
    """Per searched layer: (trials meeting the forget criterion, trials failing it)."""
    if not path or not os.path.exists(path):
        return {}
    import pandas as pd

    df = pd.read_csv(path, sep="\t")
    return {layer: (int(g.meets_criterion.sum()), int((~g.meets_criterion.astype(bool)).sum()))
            for layer, g in df.groupby("layer")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="SLUG-Demo-ViT")
    ap.add_argument("--identities", type=int, default=60)
    ap.add_argument("--images", type=int, default=1800, help="identity images (the demo's search half)")
    ap.add_argument("--objects", type=int, default=2500, help="object images (the demo's search split: 2,500)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--every-block", action="store_true", help="time every block (default: first, middle, last)")
    ap.add_argument("--search-tsv", default="results/elon_musk/search.tsv",
                    help="a search.tsv whose layers weight the mix (demo architecture only)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto (the first visible GPU, else the CPU)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = pick_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    b = load_clip(args.arch, device=device)
    b.model.eval()
    size = b.model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    es = EvalSet(torch.randn(args.images, 3, size, size), torch.arange(args.images) % args.identities,
                 [f"Person {i}" for i in range(args.identities)], torch.randn(args.objects, 3, size, size),
                 torch.arange(args.objects) % 25, [f"object {i}" for i in range(25)])
    ev = CachedEvaluator(b.model, b.tokenizer, es, target=0)
    params = dict(b.model.named_parameters())
    full = best_of(ev.evaluate_uncached, args.repeats, sync)
    print(f"arch {args.arch}, {args.images} identity + {args.objects} object images, "
          f"{len(es.id_names)} + {len(es.obj_names)}x7 prompts, {args.threads} threads, "
          f"{platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    print(f"full evaluation {full:.3f} s")
    print(f"{'edited tensor':<52} {'stage':>5} {'iteration':>9} {'ratio':>6} {'forget':>6} {'first':>7} {'cache MB':>8}")
    ratios, fratios, peak_cache = {}, {}, 0
    for layer in probe_layers(b.model, args.every_block or args.arch == "SLUG-Demo-ViT"):
        t = time_layer(ev, params, layer, args.repeats, sync)
        peak_cache = max(peak_cache, t["cache"])
        ratios[layer], fratios[layer] = t["iteration"] / full, t["forget"] / full
        tower = "vision" if layer.startswith("visual.") else "text"
        print(f"{layer:<52} {ev._staged[tower].stage_of(layer) if tower in ev._staged else 0:>5} "
              f"{t['iteration']:>8.3f}s {ratios[layer]:>6.3f} {fratios[layer]:>6.3f} {t['first'] / full:>7.3f} "
              f"{t['cache'] / 2**20:>8.1f}")
    print("(ratio: a full evaluation of the edited model with the cache; forget: the forget-only evaluation that"
          " rejects a trial which does not forget, search.retain_on_fail: false)")
    for tower in ("vision", "text"):
        rs = [r for n, r in ratios.items() if (n.startswith("visual.")) == (tower == "vision")]
        print(f"mean ratio over the {tower} stages above: {sum(rs) / len(rs):.3f}")
    weights = search_weights(args.search_tsv) if args.arch == "SLUG-Demo-ViT" else {}
    weights = {n: w for n, w in weights.items() if n in params}
    if weights:
        for n in weights:
            if n not in ratios:  # a searched tensor not probed above: time it too
                t = time_layer(ev, params, n, args.repeats, sync)
                ratios[n], fratios[n] = t["iteration"] / full, t["forget"] / full
        passing = sum(p for p, _ in weights.values())
        total = sum(p + f for p, f in weights.values())
        every = sum((p + f) * ratios[n] for n, (p, f) in weights.items()) / total
        # forget-first: every trial pays the forget-only evaluation, a passing one the full one too
        lazy = sum((p + f) * fratios[n] + p * ratios[n] for n, (p, f) in weights.items()) / total
        print(f"search mix ({args.search_tsv}, {total} iterations over {len(weights)} layers, {passing} meeting "
              f"the criterion): ratio {every:.3f} evaluating every trial fully (search.retain_on_fail: true), "
              f"{lazy:.3f} forget-first (false, the default)")
    print(f"largest activation cache: {peak_cache / 2**20:.1f} MB (one depth per tower)")


if __name__ == "__main__":
    main()
