"""The demo world's characters and styles: named look-alikes from shared parts, styles a classifier tells
apart on held-out renders, captions that name them in the phrases the concept matcher knows, and the
held-out sets in a folder per character and in the UnlearnCanvas layout."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from slug.concepts import concept_pattern
from slug.data import read_canvas, read_character_folders
from slug.world import (CHARACTERS, OBJECT_CLASSES, STYLES, WorldSpec, apply_style, character_caption,
                        draw_character, draw_object, draw_person, make_identities, style_caption, write_world)


def _rng(*p):
    return np.random.default_rng(np.random.SeedSequence([0, *p]))


def test_at_least_twelve_characters_with_the_papers_two_and_look_alikes():
    names = [c.name for c in CHARACTERS]
    assert len(set(names)) == len(names) >= 12 and {"Mickey Mouse", "Iron Man"} <= set(names)
    parts = [c.parts() for c in CHARACTERS]
    assert len(set(parts)) == len(parts)  # no two characters are the same figure
    def closest(c):
        return max((sum(a == b for a, b in zip(c.parts(), o.parts())), o.name) for o in CHARACTERS if o is not c)

    assert all(closest(c)[0] >= 2 for c in CHARACTERS)  # no character is recognisable by any single part
    by_name = {c.name: c for c in CHARACTERS}
    # the paper's two have look-alikes: the same head and at least half the parts
    for name, twin in (("Mickey Mouse", "Maxie Mouse"), ("Iron Man", "Steel Sentinel")):
        assert closest(by_name[name]) == (closest(by_name[name])[0], twin) and closest(by_name[name])[0] >= 4
        assert by_name[name].head == by_name[twin].head
    a, b = draw_character(CHARACTERS[0], _rng(1)), draw_character(CHARACTERS[0], _rng(1))
    assert a.tobytes() == b.tobytes() and a.size == (64, 64)
    assert draw_character(CHARACTERS[0], _rng(2)).tobytes() != a.tobytes()


def _features(img: Image.Image) -> np.ndarray:
    """Simple colour, layout and texture statistics (no learned features)."""
    a = np.asarray(img, np.float32) / 255
    g = a.mean(2)
    small = np.asarray(img.convert("L").resize((8, 8), Image.BILINEAR), np.float32).ravel() / 255
    hist = np.concatenate([np.histogram(a[..., c], 8, (0, 1))[0] for c in range(3)]) / g.size
    gx, gy = np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0))
    ghist = np.concatenate([np.histogram(gx, 8, (0, 0.5))[0], np.histogram(gy, 8, (0, 0.5))[0]]) / gx.size
    sat = a.max(2) - a.min(2)
    return np.concatenate([small, hist, ghist, [sat.mean(), sat.std(), g.std()]])


def test_every_style_is_recognisable_on_held_out_subjects():
    from sklearn.linear_model import LogisticRegression

    names = list(STYLES)
    assert len(names) >= 12 and {"Van Gogh", "Pop Art", "Ukiyoe", "Pencil Drawing", "Mosaic", "Watercolor"} <= set(names)
    people, wnids = make_identities(10, 0, 2), list(OBJECT_CLASSES)

    def subject(i):  # people, objects and characters in turn, a new one each time
        r = _rng(1, i)
        return [draw_person(people[i % 10], r), draw_object(wnids[i % 25], r), draw_character(CHARACTERS[i % 14], r)][i % 3]

    x, y = [], []
    for i in range(240):
        x.append(_features(apply_style(subject(i), names[i % 12], _rng(2, i))))
        y.append(i % 12)
    x, y = np.array(x), np.array(y)
    clf = LogisticRegression(max_iter=3000).fit(x[:144], y[:144])  # subjects 144.. are never seen in training
    pred = clf.predict(x[144:])
    acc = (pred == y[144:]).mean()
    assert acc >= 0.6, f"held-out style accuracy {acc:.2f} (chance 1/12)"
    per_style = [(pred[y[144:] == s] == s).mean() for s in range(12)]
    assert min(per_style) > 1 / 12, dict(zip(names, per_style))  # every style above chance on its own
    with pytest.raises(ValueError, match="unknown style 'Cubism'"):
        apply_style(subject(0), "Cubism", _rng(3))


def test_captions_name_characters_and_styles_as_the_matcher_finds_them():
    rng = _rng(4)
    pat = concept_pattern(["Mickey Mouse"], "character")
    caps = [character_caption("Mickey Mouse", rng, 1.0) for _ in range(200)]
    assert all(pat.search(c) for c in caps)
    assert not any(pat.search(character_caption("Mickey Mouse", rng, 0.0)) for _ in range(100))
    style_pat = concept_pattern(["Van Gogh"], "style")
    named = [style_caption("a red house", "Van Gogh", rng, 1.0) for _ in range(400)]
    share = np.mean([bool(style_pat.search(c)) for c in named])
    assert 0.7 <= share < 1.0  # most web forms use a phrase the matcher knows ("in the style of X", "X style", ...)
    assert any("by Van Gogh" in c for c in named)  # a painter is also credited
    assert not any("by Mosaic" in style_caption("a cup", "Mosaic", rng, 1.0) for _ in range(200))


def test_held_out_sets_are_written_per_character_and_in_the_unlearncanvas_layout(tmp_path: Path):
    spec = WorldSpec(n_identities=5, n_pairs=60, celeba_per_identity=2, imagenet_per_class=2, nonmember_pairs=10,
                     image_size=32, min_trait_distance=3, n_characters=3, character_fraction=0.3,
                     characters_per_character=4, n_styles=3, style_fraction=0.5, canvas_objects=2, canvas_per_object=3)
    summary = write_world(spec, tmp_path)
    assert summary["characters"] == 3 and summary["styles"] == 3
    chars = read_character_folders(tmp_path / "characters")
    assert sorted(chars.character.unique()) == ["Iron Man", "Maxie Mouse", "Mickey Mouse"]
    assert (chars.groupby("character").size() == 4).all()
    canvas = read_canvas(tmp_path / "canvas")
    assert sorted(canvas["style"].unique()) == ["Pop Art", "Ukiyoe", "Van Gogh"]
    assert sorted(canvas["object"].unique()) == ["house", "tree"] and len(canvas) == 3 * 2 * 3
    assert (tmp_path / "canvas" / "Van_Gogh" / "house" / "1.jpg").is_file()
    seeds = read_canvas(tmp_path / "canvas", seed_images=True)
    assert len(seeds) == 2 * 3 and set(seeds["style"]) == {""}
    # every styled image is its seed image in that style: the same seed image under every style
    a = np.asarray(Image.open(tmp_path / "canvas" / "Seed_Images" / "tree" / "2.jpg"), np.float32)
    b = np.asarray(Image.open(tmp_path / "canvas" / "Van_Gogh" / "tree" / "2.jpg"), np.float32)
    c = np.asarray(Image.open(tmp_path / "canvas" / "Seed_Images" / "tree" / "3.jpg"), np.float32)
    assert np.abs(a - b).mean() < np.abs(c - b).mean()
    import pandas as pd

    text = pd.read_parquet(tmp_path / "laion.parquet").TEXT
    assert text.str.contains("Mickey Mouse|Iron Man|Maxie Mouse").any()
    assert text.str.contains("Van Gogh|Pop Art|Ukiyoe").any()


def test_a_world_without_characters_and_styles_draws_the_same_pairs(tmp_path: Path):
    from slug.world import iter_pairs

    base = WorldSpec(n_identities=5, n_pairs=30, image_size=32, min_trait_distance=3)
    ids = make_identities(5, 0, 3)
    plain = [(im.tobytes(), cap) for im, cap, _ in iter_pairs(base, ids, 0, 30)]
    styled = WorldSpec(n_identities=5, n_pairs=30, image_size=32, min_trait_distance=3, n_styles=4, style_fraction=0.5)
    out = [(im.tobytes(), cap, meta) for im, cap, meta in iter_pairs(styled, ids, 0, 30, (), list(STYLES)[:4])]
    same = [p == o[:2] for p, o in zip(plain, out) if "style" not in o[2]]
    assert same and all(same) and any("style" in o[2] for o in out)


@pytest.mark.parametrize("bad, match", [
    (dict(person_fraction=0.7, character_fraction=0.4, n_characters=2), "person_fraction \\+ world.character_fraction"),
    (dict(character_fraction=0.1), "n_characters >= 1"),
    (dict(style_fraction=0.1), "n_styles >= 1"),
])
def test_world_settings_that_cannot_be_drawn_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        WorldSpec(**bad)
