"""Scaling with the number of concepts K unlearned in one batch (issue: performance).

Runs the real Snakemake workflow in a scratch directory on the tiny world of the tests
(tests/configs/tiny.yaml, with ``--identities`` identities so that 8 concepts leave others to
retain). The shared stages (world, shards, pretraining, the retain gradient) are built once first;
then, for each K, every concept output is removed and the K concepts' unlearned checkpoints
(curation, forget gradient, layer ranking, step search, unlearning) are built in one Snakemake
call. Prints the total time against K, the fitted per-concept slope, the per-concept stage times
(from results/benchmarks/*.tsv) and the retain gradient paid once, against recomputing it per
concept as the reference does.
Usage: python benchmarks/concept_scaling.py [--ks 1,2,4,8] [--workdir /tmp/slug-bench-scaling]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parent.parent
STAGES = ["curate_forget_set", "forget_gradient", "rank_layers", "search_step", "unlearn"]


def smk(work: Path, cores: int, *targets: str) -> float:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
           "--cores", str(cores), *targets]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed in {work}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return time.perf_counter() - t0


def seconds(path: Path) -> float:
    return float(pd.read_csv(path, sep="\t")["s"].iloc[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ks", default="1,2,4,8")
    ap.add_argument("--identities", type=int, default=10)
    ap.add_argument("--workdir", default="/tmp/slug-bench-scaling")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    ks = sorted(int(k) for k in args.ks.split(","))
    if args.identities < max(ks) + 2:
        raise SystemExit(f"--identities must be >= max K + 2 = {max(ks) + 2} (the others are retained)")

    from slug.world import make_identities

    cfg = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    cfg["world"]["n_identities"] = args.identities
    names = [i.name for i in make_identities(args.identities, cfg["seed"], cfg["world"]["min_trait_distance"])]
    concepts = {n.lower().replace(" ", "_"): {"name": n} for n in names[:max(ks)]}
    cfg["concepts"] = concepts  # the same config for every K: only the requested targets differ
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(cfg, sort_keys=False)
    if not (work / "config.yaml").exists() or (work / "config.yaml").read_text() != text:
        (work / "config.yaml").write_text(text)
    model = cfg["model"]["name"]
    retain = work / f"results/models/{model}/retain_grads.pt"
    t_shared = smk(work, args.cores, str(retain.relative_to(work)))
    retain_s = seconds(work / f"results/benchmarks/retain_gradient/{model}.tsv")
    retain_mtime = retain.stat().st_mtime_ns

    rows = []
    for k in ks:
        for c in concepts:  # every concept from scratch; the shared stages stay built
            for d in (work / "results" / c, work / "results" / "benchmarks" / c, work / "results" / "logs" / c):
                shutil.rmtree(d, ignore_errors=True)
        chosen = list(concepts)[:k]
        wall = smk(work, args.cores, *[f"results/{c}/unlearned/checkpoint.pt" for c in chosen])
        per_stage = {s: np.mean([seconds(work / f"results/benchmarks/{c}/{s}.tsv") for c in chosen]) for s in STAGES}
        rows.append({"K": k, "wall_s": wall, **{f"{s}_s": v for s, v in per_stage.items()},
                     "retain_gradient_rerun": retain.stat().st_mtime_ns != retain_mtime})
    df = pd.DataFrame(rows)
    slope, intercept = np.polyfit(df.K, df.wall_s, 1) if len(df) > 1 else (float("nan"), float("nan"))
    per_concept = float(df[[f"{s}_s" for s in STAGES]].sum(axis=1).mean())

    print(f"tiny world with {args.identities} identities, {args.cores} cores, workdir {work}")
    print(f"shared stages (world, shards, pretraining, retain gradient) built once: {t_shared:.1f} s "
          f"(retain gradient {retain_s:.1f} s)")
    print(f"{'K':>2} {'wall s':>8} {'per K':>7}  " + " ".join(f"{s[:12]:>12}" for s in STAGES))
    for r in rows:
        print(f"{r['K']:>2} {r['wall_s']:>8.1f} {r['wall_s'] / r['K']:>7.1f}  "
              + " ".join(f"{r[s + '_s']:>12.2f}" for s in STAGES))
    print(f"fit: wall = {intercept:.1f} s + K x {slope:.1f} s per concept")
    print(f"per-concept stage time (mean of the rules' benchmark files): {per_concept:.1f} s; "
          f"slope / stage time = {slope / per_concept:.2f} (the rest: job start-up, imports)")
    print(f"retain gradient re-run by any K: {bool(df.retain_gradient_rerun.any())}; recomputing it per "
          f"concept (the reference) would add {retain_s:.1f} s per concept: "
          f"K=8 total x{(intercept + 8 * (slope + retain_s)) / (intercept + 8 * slope):.2f}")


if __name__ == "__main__":
    main()
