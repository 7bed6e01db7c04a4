"""Time to unlearn: SLUG against each baseline, as ratios, from a finished comparison run.

The comparison itself is a workflow target (it trains five baselines per concept, which takes a while):

    .venv/bin/snakemake results/comparison.html --cores 2
    .venv/bin/python benchmarks/time_to_unlearn.py [--results results]

Per concept and averaged over the concepts compared, this prints for every baseline: whether it met
the forget criterion, its wall time over SLUG's, its training time (evaluation excluded) over SLUG's,
and its forward+backward passes over SLUG's. SLUG's time is its per-concept stages (forget gradient,
layer ranking, step search, checkpoint); the retain gradient, paid once per model and shared by every
concept, is printed apart and also folded in for a single concept ("SLUG incl. retain").
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def ratios(t: pd.DataFrame) -> pd.DataFrame:
    slug = t[t.method == "slug"].iloc[0]
    full = slug.seconds + (slug.shared_seconds or 0.0)
    rows = []
    for _, r in t[~t.method.isin(["slug", "original"])].iterrows():
        rows.append({"method": r.method, "met": bool(r.criterion_met), "seconds": r.seconds,
                     "x_slug_time": r.seconds / slug.seconds, "x_slug_incl_retain": r.seconds / full,
                     "x_slug_steps": r.grad_steps / slug.grad_steps,
                     "x_slug_steps_incl_retain": r.grad_steps / (slug.grad_steps + (slug.shared_grad_steps or 0))
                     if pd.notna(slug.shared_grad_steps) else float("nan")})
    return pd.DataFrame(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results")
    args = ap.parse_args()
    tables = sorted(Path(args.results).glob("*/comparison.tsv"))
    if not tables:
        print(f"no {args.results}/*/comparison.tsv: run `.venv/bin/snakemake results/comparison.html --cores 2` first",
              file=sys.stderr)
        return 1
    pd.set_option("display.width", 160)
    all_rows = []
    for path in tables:
        t = pd.read_csv(path, sep="\t")
        slug = t[t.method == "slug"].iloc[0]
        print(f"\n== {path.parent.name}: SLUG {slug.seconds:.1f} s ({slug.grad_steps:.0f} passes; criterion "
              f"{'met' if slug.criterion_met else 'NOT met'}), retain gradient {slug.shared_seconds:.1f} s once per model")
        r = ratios(t)
        print(r.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        all_rows.append(r.assign(concept=path.parent.name))
    df = pd.concat(all_rows)
    print(f"\n== mean over {len(tables)} concepts (ratio > 1: the baseline is slower than SLUG)")
    agg = df.groupby("method", sort=False).agg(met=("met", "sum"), seconds=("seconds", "mean"),
                                               x_slug_time=("x_slug_time", "mean"),
                                               x_slug_incl_retain=("x_slug_incl_retain", "mean"),
                                               x_slug_steps=("x_slug_steps", "mean"))
    print(agg.to_string(float_format=lambda v: f"{v:.3g}"))
    met = df[df.met]
    if len(met):
        fastest = met.groupby("method").seconds.mean().idxmin()
        print(f"\nfastest baseline that met the criterion: {fastest}; its time / SLUG's = "
              f"{met[met.method == fastest].x_slug_time.mean():.3g} (target >= 10)")
    else:
        print("\nno baseline met the criterion")
    return 0


if __name__ == "__main__":
    sys.exit(main())
