"""The demo world: deterministic, varied, and written in the real datasets' formats."""
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slug.data import iter_shards, read_celeba, read_imagenet_val
from slug.world import (BENCHMARK_IDENTITIES, OBJECT_CLASSES, TRAITS, WorldSpec, draw_person, make_identities,
                        write_world)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix != ".parquet":
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    meta = pd.read_parquet(root / "laion.parquet")
    meta["URL"] = meta.URL.str.replace(root.resolve().as_uri(), "ROOT", regex=False)
    h.update(meta.to_csv().encode())
    return h.hexdigest()


def test_identities_default_world_has_the_benchmark_names_and_overlapping_traits():
    ids = make_identities(60, seed=0, min_trait_distance=3)
    names = [i.name for i in ids]
    assert len(set(names)) == 60
    assert names[:5] == BENCHMARK_IDENTITIES
    vecs = [i.traits() for i in ids]
    dists = [sum(a != b for a, b in zip(u, v)) for k, u in enumerate(vecs) for v in vecs[k + 1:]]
    assert min(dists) >= 3  # nobody is a copy of anybody
    # ...but no single trait identifies a person: every trait value is shared
    for k in range(len(TRAITS)):
        values = [v[k] for v in vecs]
        assert max(values.count(x) for x in set(values)) > 1


def test_every_image_of_an_identity_differs():
    ident = make_identities(5, seed=0)[0]
    a = np.asarray(draw_person(ident, np.random.default_rng(1)))
    b = np.asarray(draw_person(ident, np.random.default_rng(2)))
    assert a.shape == (64, 64, 3) and np.abs(a.astype(int) - b).mean() > 5


def test_world_is_deterministic(tmp_path):
    spec = WorldSpec(seed=5, n_identities=5, n_pairs=30, celeba_per_identity=2, imagenet_per_class=2,
                     nonmember_pairs=10, image_size=32)
    write_world(spec, tmp_path / "a")
    write_world(spec, tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    write_world(WorldSpec(**{**spec.__dict__, "seed": 6}), tmp_path / "c")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_world_formats_read_back(tiny_world):
    meta = pd.read_parquet(tiny_world / "laion.parquet")
    assert {"URL", "TEXT"} <= set(meta.columns) and len(meta) == 120
    assert meta.URL.str.startswith("file://").all()
    assert any("Elon Musk" in t for t in meta.TEXT)
    assert not all(any(n in t for n in BENCHMARK_IDENTITIES) for t in meta.TEXT)  # some captions name nobody

    cel = read_celeba(tiny_world / "celeba")
    assert len(cel) == 8 * 4 and cel.identity.nunique() == 8
    assert all(Path(p).is_file() for p in cel.path)
    header = (tiny_world / "celeba" / "list_identity_celeba.txt").read_text().splitlines()[:3]
    assert header[0] == "32" and header[1].split() == ["image_id", "identity_name"]
    assert header[2].split()[1] == "Elon_Musk"

    inet = read_imagenet_val(tiny_world / "imagenet")
    assert inet.classname.nunique() == len(OBJECT_CLASSES) >= 20
    assert all(p.endswith(".JPEG") for p in inet.path)

    samples = list(iter_shards([tiny_world / "nonmember" / "00000.tar"]))
    assert len(samples) == 20 and samples[0].image.size == (32, 32) and samples[0].caption


def test_bad_world_size_is_refused():
    with pytest.raises(ValueError, match="n_identities"):
        make_identities(3, seed=0)


def test_every_world_size_the_schema_allows_can_be_drawn():
    small, large = make_identities(60, seed=0, min_trait_distance=2), make_identities(2500, seed=0, min_trait_distance=2)
    assert len({p.name for p in large}) == 2500
    assert large[:60] == small  # a larger world extends a smaller one instead of renaming it
    with pytest.raises(ValueError, match="lower world.n_identities"):
        make_identities(2506, seed=0, min_trait_distance=2)
