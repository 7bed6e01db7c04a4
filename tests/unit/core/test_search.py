"""The step-size search and the selection rule."""

from slug.world import world_eval_dirs
import pytest
import torch

from slug.core.search import TIE_TOL, Criterion, SearchTrial, bisect_rho, make_delta, select_trial
from slug.clip.evaluation.tasks import class_accuracies
from slug.clip.zeroshot import topk_correct


@pytest.mark.parametrize("threshold", [0.013, 0.1, 0.37, 2.9])
def test_bisection_finds_the_threshold_of_a_monotone_criterion(threshold):
    calls = []

    def evaluate(rho):
        calls.append(rho)
        return {"forget_top5": 1.0 if rho < threshold else 0.0}

    trials = bisect_rho(evaluate, Criterion(), rho_start=0.1, max_iter=30, rel_tol=0.01)
    passing = [r for r, _, ok in trials if ok]
    failing = [r for r, _, ok in trials if not ok]
    best = min(passing)
    assert best >= threshold and best <= threshold * 1.011  # within the relative tolerance
    assert all(r < threshold for r in failing)
    assert len(calls) == len(trials) <= 30
    if threshold > 0.1:  # doubling phase first
        assert trials[1][0] == pytest.approx(0.2)


def test_bisection_respects_max_iter():
    trials = bisect_rho(lambda r: {"forget_top5": 1.0 if r < 0.3 else 0.0}, Criterion(), 0.1, max_iter=4, rel_tol=1e-9)
    assert [round(r, 6) for r, _, _ in trials] == [0.1, 0.2, 0.4, 0.3]


def test_delta_has_the_requested_relative_size_and_points_against_the_gradient():
    theta, g = torch.randn(6, 5), torch.randn(6, 5)
    delta, lam = make_delta(theta, g, 0.25)
    assert lam > 0
    assert float(delta.norm() / theta.norm()) == pytest.approx(0.25, rel=1e-5)
    assert float((delta * g).sum()) < 0


def _trial(rho, forget, retain_id, objects, layer="l"):
    m = {"forget_top5": forget, "forget_top1": forget, "retain_id_top1": retain_id, "objects_top1": objects}
    return SearchTrial(layer, "vision", 0, rho, rho, forget == 0.0, m)


def test_selection_prefers_retain_among_passing_trials_then_smaller_rho():
    base = {"retain_id_top1": 0.9, "objects_top1": 0.8}
    trials = [_trial(0.1, 0.2, 0.9, 0.8), _trial(0.2, 0.0, 0.85, 0.8), _trial(0.3, 0.0, 0.87, 0.8, "m"),
              _trial(0.4, 0.0, 0.87, 0.8, "n"), _trial(0.25, 0.0, 0.95, 0.74, "x")]
    best, note = select_trial(trials, base, max_retain_drop=0.05)
    # x has the best mean retain score but its object accuracy fell by 0.06 > 0.05
    assert (best.layer, best.rho) == ("m", 0.3)
    assert note["criterion_met"] and note["n_meeting_criterion"] == 4 and note["n_within_retain_bound"] == 3
    best, _ = select_trial(trials, base, max_retain_drop=None)
    assert best.layer == "x"


def test_selection_falls_back_to_the_best_passing_trial_when_none_keeps_the_retain_bound():
    base = {"retain_id_top1": 0.9, "objects_top1": 0.8}
    trials = [_trial(0.1, 0.3, 0.9, 0.8), _trial(0.2, 0.0, 0.8, 0.7, "m"), _trial(0.3, 0.0, 0.84, 0.7, "n")]
    best, note = select_trial(trials, base, max_retain_drop=0.02)
    assert best.layer == "n"  # the best retain score among trials that forget; the one that keeps retain does not
    assert note["criterion_met"] and note["n_within_retain_bound"] == 0 and note["retain_bound_met"] is False


def test_bisection_stops_at_rho_max_and_refuses_bad_settings():
    trials = bisect_rho(lambda r: {"forget_top5": 1.0}, Criterion(), 0.1, max_iter=30, rho_max=1.0)
    assert [round(r, 6) for r, _, _ in trials] == [0.1, 0.2, 0.4, 0.8, 1.0]  # doubling, capped, then stop
    assert not any(ok for _, _, ok in trials)
    for bad in ({"rho_start": 0.0}, {"rho_start": -0.1}, {"max_iter": 0}):
        with pytest.raises(ValueError, match="search.rho_start must be > 0 and search.max_iter >= 1"):
            bisect_rho(lambda r: {"forget_top5": 0.0}, Criterion(), **bad)


def test_selection_flags_when_nothing_meets_the_criterion():
    base = {"retain_id_top1": 0.9, "objects_top1": 0.8}
    best, note = select_trial([_trial(0.1, 0.5, 0.9, 0.8), _trial(0.2, 0.1, 0.5, 0.5)], base, 0.02)
    assert not note["criterion_met"] and best.rho == 0.2
    # forget-first trials that fail carry NaN retain metrics: the closest one is still chosen, ties to the smaller rho
    nan = float("nan")
    best, note = select_trial([_trial(0.1, 0.5, nan, nan), _trial(0.3, 0.1, nan, nan), _trial(0.2, 0.1, nan, nan)], base)
    assert not note["criterion_met"] and best.rho == 0.2
    # the closest trial by the criterion's own metric: top-1 here, though the other trial is closer at top-5
    a, b = _trial(0.1, 0.5, 0.9, 0.8), _trial(0.2, 0.5, 0.9, 0.8)
    a.metrics.update(forget_top1=0.2, forget_top5=0.4)
    b.metrics.update(forget_top1=0.1, forget_top5=0.6)
    assert select_trial([a, b], base, 0.02, "forget_top1")[0] is b and select_trial([a, b], base, 0.02)[0] is a


def test_an_exact_tie_goes_to_the_smaller_rho_whatever_the_last_bits_and_the_order():
    # the same counts reached along two float paths: 0.1 + 0.2 != 0.3 in binary, by one unit in the last place
    base = {"retain_id_top1": 0.9, "objects_top1": 0.8}
    a, b = _trial(0.4, 0.0, 0.1 + 0.2, 0.5, "a"), _trial(0.2, 0.0, 0.3, 0.5, "b")
    assert a.metrics["retain_id_top1"] != b.metrics["retain_id_top1"]  # the plain max would pick `a`
    for trials in ([a, b], [b, a]):
        assert select_trial(trials, base)[0] is b
    # a real difference of one image among 1,000 x 1,000 is not a tie
    c = _trial(0.4, 0.0, 0.3 + 1e-6, 0.5, "c")
    assert select_trial([b, c], base)[0] is c
    # the criterion and the retain bound hold at equality, however the equal value was summed
    assert 0.1 * 3 > 0.3  # larger by float rounding only
    assert Criterion("forget_top1", 0.3)({"forget_top1": 0.1 * 3})
    assert not Criterion("forget_top1", 0.3)({"forget_top1": 0.3 + 1e-6})
    d = _trial(0.2, 0.0, 0.9, 0.7 + 0.0, "d")
    base2 = {"retain_id_top1": 0.9, "objects_top1": 0.9}
    assert 0.9 - 0.7 > 0.2  # a drop of exactly 0.2, one unit in the last place above it
    assert select_trial([d], base2, max_retain_drop=0.2)[1]["n_within_retain_bound"] == 1
    assert select_trial([d], base2, max_retain_drop=0.2 - 1e-6)[1]["n_within_retain_bound"] == 0


def test_class_accuracies_are_a_float64_share_of_counts_whatever_the_class_order():
    g = torch.Generator().manual_seed(0)
    n_cls, per = 37, 7
    labels = torch.arange(n_cls).repeat_interleave(per)
    hits = torch.rand(n_cls * per, generator=g) < 0.6
    predicted = torch.where(hits, labels, (labels + 1) % n_cls)  # right exactly where `hits` says
    feats = torch.nn.functional.one_hot(predicted, n_cls).float()
    pc = class_accuracies(topk_correct(feats @ torch.eye(n_cls).T, labels, 1), labels, n_cls)
    counts = hits.view(n_cls, per).sum(1)
    assert pc.dtype == torch.float64 and torch.equal(pc, counts.double() / per)
    perm = torch.randperm(n_cls, generator=g)  # the same counts summed in another order
    m1, m2 = float(pc.mean()), float(pc[perm].mean())
    assert abs(m1 - m2) <= TIE_TOL and abs(m1 - int(counts.sum()) / (n_cls * per)) <= 1e-15
    assert 1 / (n_cls * per) > 1e6 * TIE_TOL  # one image apart is never a tie


def test_forget_first_search_makes_the_same_choice_and_skips_the_retain_sets_of_failing_trials(tiny_clip, tiny_world):
    """search.retain_on_fail: false evaluates a trial's retain sets only when it forgets."""
    import math

    from slug.clip.evaluation import CachedEvaluator, load_eval_set
    from slug.core.gradients import forget_gradient
    from slug.core.search import search_layers

    model = tiny_clip.model.eval()
    es = load_eval_set(world_eval_dirs(tiny_world), "search", tiny_clip.preprocess_val)
    target = es.target_index("Elon Musk")
    images = es.id_images[es.id_labels == target]
    layers = ["visual.proj", "text_projection", "visual.transformer.resblocks.0.mlp.c_fc.weight"]
    g_f = forget_gradient(model, images, tiny_clip.tokenizer(["a photo of Elon Musk"] * len(images)), layers,
                          progress=False)
    ev = CachedEvaluator(model, tiny_clip.tokenizer, es, target)
    calls = {True: 0, False: 0}
    evaluate = ev.evaluate

    def counted(edits, forget_only=False):
        calls[forget_only] += 1
        return evaluate(edits, forget_only=forget_only)

    ev.evaluate = counted
    params = dict(model.named_parameters())
    criterion = Criterion("forget_top1", 0.0)
    full = search_layers(ev, params, g_f, layers, criterion, rho_start=0.01, max_iter=8, retain_on_fail=True)
    n_full = calls[False]
    calls.update({True: 0, False: 0})
    lazy = search_layers(ev, params, g_f, layers, criterion, rho_start=0.01, max_iter=8, retain_on_fail=False)
    assert [(t.layer, t.rho, t.meets_criterion) for t in lazy] == [(t.layer, t.rho, t.meets_criterion) for t in full]
    passing = [t for t in lazy if t.meets_criterion]
    assert passing and len(passing) < len(lazy)  # both kinds of trial occurred
    for a, b in zip(full, lazy):
        assert b.metrics["forget_top1"] == pytest.approx(a.metrics["forget_top1"], abs=1e-6)
        for k in ("retain_id_top1", "objects_top1", "objects_top5"):
            assert (b.metrics[k] == pytest.approx(a.metrics[k], abs=1e-6)) if b.meets_criterion else math.isnan(b.metrics[k])
    assert n_full == len(full) and calls[False] == len(passing) and calls[True] == len(lazy)
    base = ev.baseline()
    assert select_trial(lazy, base, 0.02)[0].rho == select_trial(full, base, 0.02)[0].rho
    assert select_trial(lazy, base, 0.02)[0].layer == select_trial(full, base, 0.02)[0].layer
    # search.rho_margin: the chosen step enlarged by 10% and evaluated on the same split
    from slug.core.search import with_margin

    chosen = select_trial(lazy, base, 0.02)[0]
    bigger = with_margin(ev, params, g_f, chosen, criterion, 0.1)
    assert bigger.kind == "margin" and bigger.layer == chosen.layer
    assert bigger.rho == pytest.approx(1.1 * chosen.rho) and bigger.lam == pytest.approx(1.1 * chosen.lam)
    assert bigger.metrics == evaluate({chosen.layer: make_delta(params[chosen.layer].detach(), g_f[chosen.layer],
                                                                bigger.rho)[0]})
    with pytest.raises(ValueError, match="rho_margin"):
        with_margin(ev, params, g_f, chosen, criterion, -0.5)


class _ToyEvaluator:
    """Metrics as shares of 10 images that depend on the edit's relative size: layer `a` forgets from
    rho 0.3 on, `b` from 0.5 on; retain falls with rho, faster for `a`."""

    def __init__(self, params):
        self.params, self.calls = params, []

    def baseline(self):
        return {"forget_top1": 1.0, "forget_top5": 1.0, "retain_id_top1": 1.0, "objects_top1": 1.0}

    def evaluate(self, edits, forget_only=False):
        (name, d), = edits.items()
        rho = float(d.norm() / self.params[name].norm())
        self.calls.append((name, round(rho, 6), forget_only))
        forget = 0.0 if rho >= {"a": 0.3, "b": 0.5}[name] - 1e-9 else 1.0
        m = {"forget_top1": forget, "forget_top5": forget}
        if not forget_only:
            slope = {"a": 1.0, "b": 0.2}[name]
            m.update(retain_id_top1=round(10 - 10 * slope * rho) / 10, objects_top1=1.0, retain_id_top5=1.0,
                     objects_top5=1.0)
        return m


def test_the_shared_driver_searches_chooses_enlarges_and_records():
    from slug.core.search import run_search, selection_record, trials_table

    g = torch.Generator().manual_seed(0)
    params = {n: torch.randn(4, 4, generator=g) for n in ("a", "b")}
    g_f = {n: torch.randn(4, 4, generator=g) for n in ("a", "b")}
    ev = _ToyEvaluator(params)
    crit = Criterion("forget_top1", 0.0)
    out = run_search(ev, params, g_f, ["a", "b"], crit, ev.baseline(), rho_start=0.1, max_iter=6, rel_tol=0.01,
                     max_retain_drop=None, rho_margin=0.1, retain_on_fail=False)
    # b forgets with less damage (retain 0.9 at rho 0.5 against 0.7 at 0.3); the margin enlarges its step
    assert out.rho_threshold == pytest.approx(0.5) and out.best.layer == "b" and out.best.kind == "margin"
    assert out.best.rho == pytest.approx(0.55) and out.trials[-1] is out.best
    assert out.best.lam == pytest.approx(0.55 * float(params["b"].norm() / g_f["b"].norm()), rel=1e-6)
    assert any(f for _, _, f in ev.calls) and all(not f for n, r, f in ev.calls if r == pytest.approx(0.55))
    rec = selection_record(out, crit, ["a", "b"], max_retain_drop=None, rho_margin=0.1)
    assert rec["layer"] == "b" and rec["rho_threshold"] == pytest.approx(0.5) and rec["criterion_met"]
    assert rec["retain_drop"] == pytest.approx(0.1) and rec["metrics_search_split"]["forget_top1"] == 0.0
    table = trials_table(out.trials)
    assert list(table.kind).count("margin") == 1 and len(table) == len(out.trials)
    assert table[table.layer == "a"].retain_id_top1.isna().any()  # failing trials were not evaluated on retain
    # nothing forgets: the closest trial is kept, flagged, evaluated fully, and not enlarged
    out = run_search(ev, params, g_f, ["b"], crit, ev.baseline(), rho_start=0.01, max_iter=3, rho_margin=0.1,
                     retain_on_fail=False)
    assert not out.note["criterion_met"] and out.best.kind == "search" and out.best.rho == pytest.approx(0.01)
    assert out.best.metrics["retain_id_top1"] == 1.0
