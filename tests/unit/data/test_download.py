"""img2dataset (the real package) downloads local URLs into webdataset shards."""
from pathlib import Path

import pandas as pd
import pytest

from slug.data import iter_shards
from slug.data.download import check_metadata, download_shards


def _parquet(tiny_world: Path, tmp: Path, n: int, broken: int = 0) -> Path:
    meta = pd.read_parquet(tiny_world / "laion.parquet").head(n).copy()
    if broken:
        meta.loc[meta.index[:broken], "URL"] = [f"file:///nonexistent/{i}.jpg" for i in range(broken)]
    path = tmp / "meta.parquet"
    meta.to_parquet(path)
    return path


def test_img2dataset_downloads_local_urls_into_readable_shards(tiny_world, tmp_path):
    parquet = _parquet(tiny_world, tmp_path, 30)
    out = tmp_path / "shards"
    report = download_shards(parquet, out, num_shards=2, samples_per_shard=20, image_size=32, processes=1, threads=4)
    assert report["successes"] == 30 and report["failures"] == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "00000.parquet", "00000.tar", "00000_stats.json", "00001.parquet", "00001.tar", "00001_stats.json"]
    samples = list(iter_shards([out / "00000.tar", out / "00001.tar"]))
    assert len(samples) == 30
    captions = pd.read_parquet(parquet).TEXT.tolist()
    assert sorted(s.caption for s in samples) == sorted(captions)
    assert samples[0].image.size == (32, 32)


def test_failure_rate_above_threshold_fails_and_leaves_no_shard(tiny_world, tmp_path):
    parquet = _parquet(tiny_world, tmp_path, 10, broken=4)
    out = tmp_path / "shards"
    with pytest.raises(RuntimeError, match=r"4 of 10 URLs \(40.0%\)"):
        download_shards(parquet, out, num_shards=1, samples_per_shard=10, image_size=32, processes=1, threads=2,
                        max_failure_rate=0.1)
    assert not any(out.glob("*.tar"))


def test_parquet_without_url_or_text_is_refused(tmp_path):
    path = tmp_path / "bad.parquet"
    pd.DataFrame({"url": ["file:///x.jpg"], "caption": ["x"]}).to_parquet(path)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['URL', 'TEXT'\]"):
        check_metadata(path)


def test_too_many_shards_requested_is_refused(tiny_world, tmp_path):
    parquet = _parquet(tiny_world, tmp_path, 10)
    with pytest.raises(ValueError, match="set data.num_shards to 1"):
        download_shards(parquet, tmp_path / "s", num_shards=3, samples_per_shard=10)
