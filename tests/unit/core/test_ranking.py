"""Layer ranking and the Pareto front."""
import numpy as np
import pandas as pd
import torch

from slug.core.ranking import candidates, layer_scores, pareto_front


def test_pareto_front_on_hand_made_points():
    # (importance, alignment): maximise importance, minimise alignment
    pts = {"a": (0.9, 0.5), "b": (0.5, 0.1), "c": (0.4, 0.3), "d": (0.9, 0.6), "e": (0.2, 0.05), "f": (0.5, 0.1)}
    front = pareto_front(np.array([p[0] for p in pts.values()]), np.array([p[1] for p in pts.values()]))
    got = {k for k, f in zip(pts, front) if f}
    # c is dominated by b; d by a (same importance, worse alignment); b and f tie and both stay
    assert got == {"a", "b", "e", "f"}


def test_layer_scores_formulas_and_tower_split():
    theta = {"visual.proj": torch.full((2, 2), 2.0), "text_projection": torch.ones(2, 2),
             "visual.ln_post.weight": torch.ones(2)}
    g_f = {"visual.proj": torch.tensor([[1.0, 0], [0, 0]]), "text_projection": torch.tensor([[0.0, 3], [4, 0]]),
           "visual.ln_post.weight": torch.ones(2)}
    g_r = {"visual.proj": torch.tensor([[1.0, 1], [0, 0]]), "text_projection": torch.tensor([[0.0, -3], [-4, 0]]),
           "visual.ln_post.weight": torch.ones(2)}
    df = layer_scores(theta, g_f, g_r).set_index("layer")
    assert "visual.ln_post.weight" not in df.index  # LayerNorm gains off by default
    assert df.loc["visual.proj", "importance"] == 1.0 / 4.0
    assert np.isclose(df.loc["visual.proj", "alignment"], 1 / np.sqrt(2))
    assert df.loc["text_projection", "importance"] == 5.0 / 2.0
    assert np.isclose(df.loc["text_projection", "alignment"], 1.0)  # |cos| of opposite gradients
    assert df.loc["visual.proj", "tower"] == "vision" and df.loc["text_projection", "tower"] == "text"
    assert df.on_front.all()  # alone in its tower
    with_ln = layer_scores(theta, g_f, g_r, include_layernorm=True)
    assert "visual.ln_post.weight" in set(with_ln.layer)


def test_candidates_respect_towers_and_caps():
    df = pd.DataFrame({"layer": ["v1", "v2", "t1"], "tower": ["vision", "vision", "text"],
                       "importance": [0.1, 0.3, 0.2], "on_front": [True, True, True]})
    assert candidates(df, ["vision"]) == ["v2", "v1"]
    assert candidates(df, ["vision", "text"], max_layers=1) == ["v2", "t1"]
