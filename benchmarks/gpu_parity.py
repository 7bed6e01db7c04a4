"""GPU parity: the slug library computes on a GPU what it computes on the CPU (run by benchmarks/gpu.sh).

On a tiny real open_clip model (``SLUG-Tiny-ViT``, the tests' model, the same random weights on both
devices) and a tiny demo world written in the real formats, this computes on the CPU and on the first
GPU: the forget and retain gradients, the original model's metrics, and a forget-first step search
over three layers (vision and text) followed by the choice of the step. It prints the differences and
exits non-zero if a gradient differs by more than ``--grad-rtol`` (relative, per tensor; cuDNN may use
TF32 for the patch-embedding convolution) or the search chooses another layer.
Usage: python benchmarks/gpu_parity.py [--device cuda]
"""
from __future__ import annotations

from slug.world import world_eval_dirs
import argparse
import sys
import tempfile
from pathlib import Path

import torch

from slug.clip.evaluation import CachedEvaluator, load_eval_set
from slug.core.gradients import candidate_names, forget_gradient, retain_gradient
from slug.clip.models import load_clip
from slug.core.search import Criterion, search_layers, select_trial
from slug.world import WorldSpec, write_world

LAYERS = ["visual.proj", "visual.transformer.resblocks.0.mlp.c_fc.weight", "text_projection"]


def run(world: Path, device: str, state: dict | None):
    bundle = load_clip("SLUG-Tiny-ViT")  # created on the CPU, then given the reference weights and moved
    if state is not None:
        bundle.model.load_state_dict(state)
    model = bundle.model.to(device).eval()
    es = load_eval_set(world_eval_dirs(world), "all", bundle.preprocess_val)
    target = es.target_index("Elon Musk")
    images = es.id_images[es.id_labels == target]
    names = candidate_names(model)
    g_f = forget_gradient(model, images, bundle.tokenizer(["a photo of Elon Musk"] * len(images)), names,
                          batch_size=3, progress=False)
    captions = [f"a photo of {es.id_names[i]}" for i in es.id_labels.tolist()]
    g_r = retain_gradient(model, es.id_images, bundle.tokenizer(captions), names, batch_size=7, progress=False)
    ev = CachedEvaluator(model, bundle.tokenizer, es, target)
    base = ev.baseline()
    params = dict(model.named_parameters())
    trials = search_layers(ev, params, g_f, LAYERS, Criterion("forget_top1", 0.0), rho_start=0.01, max_iter=8,
                           retain_on_fail=False)
    best, _ = select_trial(trials, base, None)
    return bundle.model.state_dict(), g_f, g_r, base, trials, best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--grad-rtol", type=float, default=5e-3)
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"no CUDA device (torch {torch.__version__}): nothing to compare", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        world = Path(d)
        write_world(WorldSpec(seed=3, n_identities=8, n_pairs=120, celeba_per_identity=4, imagenet_per_class=4,
                              nonmember_pairs=20, image_size=32), world)
        state, gf_c, gr_c, base_c, trials_c, best_c = run(world, "cpu", None)
        state = {k: v.detach().cpu().clone() for k, v in state.items()}
        _, gf_g, gr_g, base_g, trials_g, best_g = run(world, args.device, state)
        # the uint8 image store normalises by table lookup: the same floats on the GPU as on the CPU
        bundle = load_clip("SLUG-Tiny-ViT")
        es = load_eval_set(world_eval_dirs(world), "all", bundle.preprocess_val)
        images_same = torch.equal(es.id_images.to(args.device).cpu(), es.id_images.to("cpu"))
    print(f"evaluation images normalised on {args.device}: {'bit-identical' if images_same else 'DIFFERENT'} to the CPU's")
    ok = images_same
    for label, a, b in (("forget", gf_c, gf_g), ("retain", gr_c, gr_g)):
        rel = {n: float((a[n] - b[n]).norm() / a[n].norm().clamp_min(1e-12)) for n in a}
        worst = max(rel, key=rel.get)
        print(f"{label} gradient: {len(rel)} tensors, largest relative difference {rel[worst]:.2e} ({worst})")
        ok &= rel[worst] <= args.grad_rtol
    diff = max(abs(base_c[k] - base_g[k]) for k in base_c)
    print(f"original model metrics: largest difference {diff:.3g}")
    same = sum((tc.rho, tc.meets_criterion) == (tg.rho, tg.meets_criterion) for tc, tg in zip(trials_c, trials_g))
    print(f"search: {len(trials_c)} trials on the CPU, {len(trials_g)} on {args.device}, {same} identical (rho, pass)")
    print(f"chosen: CPU {best_c.layer} rho={best_c.rho:.4g}; {args.device} {best_g.layer} rho={best_g.rho:.4g}")
    ok &= best_c.layer == best_g.layer
    print("GPU parity:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
