"""The comparison's stages: one baseline method on one concept, and the page averaging every method."""

from __future__ import annotations

import html
import logging
from typing import Sequence

import pandas as pd
import torch

from slug.baselines import BaselineConfig, evaluate_model, first_meeting, run_baseline
from slug.baselines import method as baseline_method
from slug.report.comparison import average_methods, format_table, page, speed_ratios
from slug.data import load_pairs
from slug.clip.evaluation import load_eval_set
from slug.clip.models import load_model
from slug.report import png_data_uri
from slug.core.search import Criterion
from slug.workflow import versions

_log = logging.getLogger("slug")


def run_method(method: str, model: dict, device: torch.device, forget_tar: str, shards: list[str], concept: str,
               display_name: str, hparams: dict, retain_pairs: int | None, criterion: dict, caps: dict,
               dirs: dict, seed: int,
               log: logging.Logger = _log, kind: str = "person") -> tuple[torch.nn.Module, pd.DataFrame, dict]:
    """Run one comparison method (FT, GA, GAFT, SalUn, SSD) on one concept (rule ``baseline``): the
    unlearned model, the per-epoch trace and ``run.json``. Training stops at the first epoch that meets the
    forget criterion on the search split (SLUG's step search sees the same half); the report uses the other."""
    bundle = load_model(model, device)
    tok = bundle.tokenizer
    cfg = BaselineConfig(seed=seed, **hparams)
    log.info("%s on %s: %s", method, display_name, cfg)
    # the same transforms as SLUG's gradients: forget pairs as evaluated, retain pairs as trained
    forget = load_pairs([forget_tar], bundle.preprocess_val, tok)[:2]
    retain = (load_pairs(shards, bundle.preprocess_train, tok, limit=retain_pairs)[:2]
              if baseline_method(method).needs_retain else (forget[0][:0], forget[1][:0]))
    log.info("%d forget pairs, %d retain pairs", len(forget[0]), len(retain[0]))
    es = load_eval_set(dirs, "search", bundle.preprocess_val, **caps, keep=[display_name])
    target_task, target = es.target(display_name, kind)
    crit = Criterion(criterion["metric"], criterion["max"])
    records = run_baseline(method, bundle.model, forget, retain, cfg,
                           lambda m: evaluate_model(m, tok, es, target, target_task), crit, log=log.info)
    chosen = first_meeting(records)
    if not chosen.meets_criterion:
        log.warning("%s did not meet %s in %d epochs: the last epoch is kept and reported as not meeting it",
                    method, crit.describe(), cfg.max_epochs)
    return bundle.model, pd.DataFrame([r.row() for r in records]), {
        "concept": concept, "method": method, "criterion": crit.describe(),
        "criterion_met": chosen.meets_criterion, "epochs": chosen.epoch, "unlearn_s": chosen.unlearn_s,
        "grad_steps": chosen.grad_steps, "hparams": vars(cfg), "retain_pairs": len(retain[0]),
        "forget_pairs": len(forget[0]), "metrics_search_split": chosen.metrics,
        "baseline_search_split": records[0].metrics, "model": model, "versions": versions(),
    }


def comparison_page(tables: Sequence[pd.DataFrame], concepts: Sequence[str], plots: Sequence[str], criterion: dict,
                    max_epochs: int) -> tuple[pd.DataFrame, str]:
    """``comparison.tsv`` (every method averaged over the concepts, as the paper's Table 1) and its page."""
    avg = average_methods(list(tables))
    crit = f"{criterion['metric']} <= {criterion['max']:g}"
    ratios = speed_ratios(avg.assign(criterion_met=avg.criterion_met.astype(str) + f"/{len(tables)}"))
    body = [f"<p>Every method starts from the same model and uses the same forget set, retain set and evaluation "
            f"code. Each baseline trains until the forget criterion <code>{html.escape(crit)}</code> holds on the "
            f"search split or {max_epochs} epochs are spent; SLUG takes one step on one layer. Accuracies are on the "
            "held-out test split after unlearning, averaged over the concepts below (MIA in %, 50 = no signal). "
            "<code>seconds</code> is each method's wall time per concept (SLUG: forget gradient, ranking, search, "
            "checkpoint; its retain gradient is computed once per model and shared, see <code>shared_seconds</code> "
            "in the per-concept tables); "
            "<code>grad_steps</code> counts forward+backward passes.</p>",
            "<h2>Averaged over concepts (the paper's Table 1)</h2>", format_table(avg),
            "<h2>Cost relative to SLUG</h2><p class='muted'>ratio &gt; 1: the baseline took longer than SLUG.</p>",
            format_table(ratios)]
    for concept, t, plot in zip(concepts, tables, plots):
        body += [f"<h2>{html.escape(concept)}</h2>",
                 f'<img src="{png_data_uri(plot)}" alt="comparison {html.escape(concept)}">',
                 format_table(t.drop(columns=["concept"]))]
    return avg, page("SLUG and the baselines compared", "\n".join(body))
