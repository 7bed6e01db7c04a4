"""The comparison methods change a real (tiny) open_clip model the way their definitions say."""
from __future__ import annotations

from slug.world import world_eval_dirs
import pytest
import torch
import torch.nn.functional as F

from slug.baselines import (BaselineConfig, evaluate_model, first_meeting, forget_loss, retain_loss, run_baseline,
                            salun_masks, ssd_dampen, ssd_lambdas)
from slug.data import load_pairs
from slug.clip.evaluation import load_eval_set
from slug.core.joint import (accuracy_table, combine_deltas, interference_summary, joint_page, rescale_jointly,
                        shared_layers)
from slug.core.search import Criterion


@pytest.fixture
def setting(tiny_clip, tiny_world):
    """Forget pairs = the first half of the tiny world's non-member shard, retain pairs = the second half.

    The evaluation's target is identity 0; the tests below only need a forget set and a retain set
    that are distinct, and a real evaluation to run."""
    b = tiny_clip
    imgs, toks, caps = load_pairs(sorted((tiny_world / "nonmember").glob("*.tar")), b.preprocess_val, b.tokenizer)
    es = load_eval_set(world_eval_dirs(tiny_world), "all", b.preprocess_val)
    half = len(imgs) // 2
    return b, (imgs[:half], toks[:half]), (imgs[half:], toks[half:]), es


def _mean_cos(model, pairs):
    with torch.no_grad():
        i, t = model(pairs[0].to("cpu"), pairs[1])[:2]  # the images are a uint8 ImageStore
        return float(F.cosine_similarity(i, t, dim=-1).mean())


def _run(method, setting, **kw):
    b, forget, retain, es = setting
    cfg = BaselineConfig(lr=kw.pop("lr", 1e-3), max_epochs=kw.pop("max_epochs", 2), batch_size=8, **kw)
    # a criterion that cannot be met, so every epoch runs
    recs = run_baseline(method, b.model, forget, retain, cfg, lambda m: evaluate_model(m, b.tokenizer, es, 0),
                        Criterion("forget_top1", -1.0))
    return recs


def test_ga_raises_the_forget_loss(setting):
    b, forget, _, _ = setting
    before = 1 - _mean_cos(b.model, forget)
    recs = _run("ga", setting)
    assert 1 - _mean_cos(b.model, forget) > before + 1e-3
    assert [r.epoch for r in recs] == [0, 1, 2] and recs[-1].grad_steps == 2 * 2  # 10 forget pairs, batch 8
    assert recs[-1].unlearn_s > 0 and not first_meeting(recs).meets_criterion


def test_training_stops_at_the_first_epoch_that_meets_the_criterion(setting):
    b, forget, retain, es = setting
    start = _mean_cos(b.model, forget)
    goal = start - 2e-3  # GA lowers the forget pairs' cosine a little every epoch

    def evaluate(m):  # the metrics every baseline logs, and the forget pairs' mean cosine to decide on
        return {**evaluate_model(m, b.tokenizer, es, 0), "cos": _mean_cos(m, forget)}

    recs = run_baseline("ga", b.model, forget, retain, BaselineConfig(lr=1e-3, max_epochs=10, batch_size=8),
                        evaluate, lambda m: m["cos"] <= goal)
    assert 1 < len(recs) < 11  # stopped early, after at least one epoch
    assert recs[-1].meets_criterion and not any(r.meets_criterion for r in recs[:-1])
    assert first_meeting(recs) is recs[-1]
    assert _mean_cos(b.model, forget) == pytest.approx(recs[-1].metrics["cos"], abs=1e-6)  # that epoch's weights
    weights = {k: v.clone() for k, v in b.model.state_dict().items()}
    again = run_baseline("ga", b.model, forget, retain, BaselineConfig(lr=1e-3, max_epochs=10, batch_size=8),
                         evaluate, lambda m: m["cos"] <= goal)
    assert len(again) == 1 and again[0].meets_criterion  # already forgotten: nothing to do
    assert all(torch.equal(weights[k], v) for k, v in b.model.state_dict().items())


def test_ft_lowers_the_retain_loss(setting):
    b, _, retain, _ = setting
    with torch.no_grad():
        before = float(retain_loss(b.model.eval(), retain[0].to("cpu"), retain[1]))
    _run("ft", setting, lr=3e-3, max_epochs=3)
    with torch.no_grad():
        after = float(retain_loss(b.model.eval(), retain[0].to("cpu"), retain[1]))
    assert after < before


def test_salun_mask_keeps_the_configured_fraction_and_freezes_the_rest(setting):
    g = {"a": torch.randn(40, 30), "b": torch.randn(100), "c": torch.zeros(7)}  # ties at zero
    for frac in (0.1, 0.5, 0.93):
        m = salun_masks(g, frac)
        total = sum(t.numel() for t in g.values())
        assert sum(int(v.sum()) for v in m.values()) == round(frac * total)
        kept = torch.cat([g[n].abs().flatten()[m[n].flatten().bool()] for n in g])
        dropped = torch.cat([g[n].abs().flatten()[~m[n].flatten().bool()] for n in g])
        assert kept.min() >= dropped.max()  # the largest |g| are kept

    b = setting[0]
    before = {n: p.detach().clone() for n, p in b.model.named_parameters()}
    _run("salun", setting, salun_fraction=0.2, max_epochs=1)
    changed = sum(int((p.detach() != before[n]).sum()) for n, p in b.model.named_parameters())
    total = sum(p.numel() for p in before.values())
    assert 0 < changed <= round(0.2 * total)


def test_ssd_dampens_only_the_selected_weights():
    theta = {"w": torch.ones(4, 4), "scale": torch.ones(())}
    imp_f = {"w": torch.full((4, 4), 1.0), "scale": torch.tensor(9.0)}
    imp_r = {"w": torch.full((4, 4), 1.0), "scale": torch.tensor(0.0)}
    imp_r["w"][0, :2] = 0.01  # selected: imp_f > 10 * imp_r
    out = ssd_dampen(theta, imp_f, imp_r, alpha=10.0, lam=5.0)
    assert set(out) == {"w"}  # single-element tensors are left alone
    sel = torch.zeros(4, 4, dtype=torch.bool)
    sel[0, :2] = True
    assert torch.equal(out["w"][~sel], theta["w"][~sel])
    torch.testing.assert_close(out["w"][sel], torch.full((2,), 5.0 * 0.01))
    lams = ssd_lambdas(BaselineConfig(max_epochs=5))
    assert lams[0] == pytest.approx(5.0) and lams[-1] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(lams, lams[1:]))  # mild to strong


def test_ssd_on_a_model_resets_between_epochs(setting):
    b = setting[0]
    original = {n: p.detach().clone() for n, p in b.model.named_parameters()}
    recs = _run("ssd", setting, max_epochs=3, ssd_alpha=1.0)
    assert [r.info["lambda"] for r in recs[1:]] == pytest.approx(ssd_lambdas(BaselineConfig(max_epochs=3)))
    for n, p in b.model.named_parameters():  # the last epoch's dampening of the original, never amplification
        assert bool((p.detach().abs() <= original[n].abs() + 1e-7).all()), n
    assert recs[1].grad_steps == recs[-1].grad_steps > 0  # importances computed once


def test_unknown_method_and_bad_settings_are_refused(setting):
    b, forget, retain, es = setting
    with pytest.raises(ValueError, match="unknown baseline 'gd'"):
        run_baseline("gd", b.model, forget, retain, BaselineConfig(), lambda m: {}, Criterion())
    with pytest.raises(ValueError, match="salun.fraction"):
        BaselineConfig(salun_fraction=0)


def test_joint_deltas_add_on_shared_layers():
    a = {"x": torch.ones(2, 2), "y": torch.ones(3)}
    c = {"x": 2 * torch.ones(2, 2)}
    out = combine_deltas([a, c])
    torch.testing.assert_close(out["x"], 3 * torch.ones(2, 2))
    torch.testing.assert_close(out["y"], torch.ones(3))
    assert shared_layers({"elon": "x", "jeff": "x", "taylor": "y"}) == {"x": ["elon", "jeff"]}
    with pytest.raises(ValueError, match="disagree in shape"):
        combine_deltas([a, {"x": torch.ones(3)}])


def test_joint_rescaling_finds_the_smallest_scale_that_restores_each_concept():
    # Synthetic and monotone: "a" is forgotten jointly once its scale reaches 2.7 (the other update pulls
    # it back), "b" already is at scale 1. Doubling brackets a in [2, 4]; 4 bisections narrow it to 1/8.
    def evaluate(s):
        return {"forget": {"a": {"top5": float(s["a"] < 2.7)}, "b": {"top5": float(s["b"] < 1.0)}}}

    scales, trials = rescale_jointly(evaluate, ["a", "b"], "forget_top5", 0.0, bisections=4)
    assert scales["b"] == 1.0 and 2.7 <= scales["a"] <= 2.7 + 2 / 2**4
    assert trials[0]["scales"] == {"a": 1.0, "b": 1.0} and trials[-1]["scales"] == scales
    assert all(trials[-1]["metrics"]["forget"][c]["top5"] == 0.0 for c in "ab")
    # rescaling "a" also brings "b" back (a shared layer): "b" keeps its scale of 1
    both, _ = rescale_jointly(lambda s: {"forget": {c: {"top5": float(s["a"] < 1.5)} for c in "ab"}}, ["a", "b"],
                              "forget_top5", 0.0)
    assert both["b"] == 1.0 and 1.5 <= both["a"] <= 1.5 + 1 / 2**4
    unreachable, _ = rescale_jointly(lambda s: {"forget": {"a": {"top5": 1.0}}}, ["a"], "forget_top5", 0.0,
                                     rounds=1, max_doublings=3)
    assert unreachable == {"a": 8.0}  # gives up after its doublings, keeping the largest scale tried


def test_joint_interference_summary_names_concepts_lost_by_summing_and_compares_drops(tmp_path):
    def m(fa, fb, ids, objs):  # a model's joint metrics: forget top-5 of a and b, retain identities, objects
        return {"forget": {"a": {"top1": 0.0, "top5": fa}, "b": {"top1": 0.0, "top5": fb}},
                "retain_id_top1": ids, "objects_top1": objs}

    alone = {"a": m(0.0, 1.0, 0.9, 0.8), "b": m(1.0, 0.0, 0.9, 0.8)}  # each forgets its own concept alone
    search_sum, search_joint = m(0.2, 0.0, 0.8, 0.7), m(0.0, 0.0, 0.8, 0.7)  # the sum brings "a" back
    results = {"before": m(1.0, 1.0, 0.95, 0.85), "only a": m(0.0, 1.0, 0.93, 0.84), "only b": m(1.0, 0.0, 0.90, 0.85),
               "sum of updates": m(0.1, 0.0, 0.88, 0.83), "joint (re-searched)": m(0.0, 0.1, 0.86, 0.82)}
    inter = interference_summary(["a", "b"], "forget_top5", 0.0, {}, {"a": 1.5, "b": 1.0}, 7, alone, search_sum,
                                 search_joint, results)
    assert inter["lost_by_summing"] == ["a"] and inter["criterion_met_by_sum"] == {"a": False, "b": True}
    assert inter["criterion_met_jointly"] == {"a": True, "b": True}
    assert inter["criterion_met_jointly_test_split"] == {"a": True, "b": False}  # judged on the test split too
    assert inter["retain_drop_joint"] == pytest.approx({"retain_id_top1": 0.09, "objects_top1": 0.03})
    assert inter["retain_drop_sum_of_single"] == pytest.approx({"retain_id_top1": 0.07, "objects_top1": 0.01})
    table = accuracy_table(results, ["a", "b"], "forget_top5")
    assert list(table.columns) == ["model", "forget_top5 a", "forget_top5 b", "retain identities @1", "objects @1"]
    assert table.set_index("model").loc["only b", "forget_top5 a"] == 1.0
    png = tmp_path / "c.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    html = joint_page("ab", ["a", "b"], {"a": "A", "b": "B"}, {"a": "x", "b": "y"}, "forget_top5 <= 0", inter, table,
                      str(png))
    assert "Met the criterion alone but not with the plain sum of the updates: a</span>" in html
    assert "a x1.5" in html and "Not met jointly" not in html and "data:image/png;base64," in html


def test_forget_loss_is_minus_one_minus_cosine(tiny_clip):
    torch.manual_seed(0)
    x = torch.randn(3, 3, 32, 32)
    t = tiny_clip.tokenizer(["a", "b", "c"])
    i, tt = tiny_clip.model(x, t)[:2]
    expected = -(1 - F.cosine_similarity(i, tt, dim=-1)).mean()
    torch.testing.assert_close(forget_loss(tiny_clip.model, x, t), expected)


def test_the_registry_is_the_one_list_of_methods_and_their_needs():
    from slug.baselines import METHODS, REGISTRY, hparams, method

    assert METHODS == ("ft", "ga", "gaft", "salun", "ssd") and set(REGISTRY) == set(METHODS)
    assert {m: method(m).needs_retain for m in METHODS} == {"ft": True, "ga": False, "gaft": True, "salun": True,
                                                            "ssd": True}
    with pytest.raises(ValueError, match="unknown baseline 'rl': choose from ft, ga, gaft, salun, ssd"):
        method("rl")
    from slug.config import load_yaml, validate_config
    from conftest import REPO

    section = validate_config(load_yaml(REPO / "config.yaml"))["baselines"]
    assert hparams(section, "salun")["salun_fraction"] == section["salun"]["fraction"]
    assert set(hparams(section, "ssd")) >= {"ssd_alpha", "ssd_lambda_max", "ssd_lambda_min"}
    for m in ("ft", "ga"):  # a method's own rate over the shared one
        assert BaselineConfig(**hparams(section, m)).lr == (section[m]["lr"] or section["lr"])
    from slug.config import schema_default

    assert BaselineConfig().max_epochs == schema_default("baselines", "max_epochs")  # every default from the schema
    rules = (REPO / "rules" / "baselines.smk").read_text()
    assert 'method="|".join(METHODS)' in rules  # the wildcard constraint reads the registry
