"""Shard download: a LAION-style metadata parquet -> webdataset shards, with img2dataset."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd


def check_metadata(parquet: str | Path, url_col: str = "URL", caption_col: str = "TEXT") -> pd.DataFrame:
    path = Path(parquet)
    try:
        df = pd.read_parquet(path)
    except Exception as e:
        raise ValueError(f"{path}: not a readable parquet file ({type(e).__name__}: {e}); "
                         "re-create the metadata file") from None
    missing = [c for c in (url_col, caption_col) if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} (has {list(df.columns)[:10]}); a LAION-style "
                         f"metadata parquet needs a '{url_col}' column of image URLs and a '{caption_col}' "
                         "column of captions")
    if len(df) == 0:
        raise ValueError(f"{path}: no rows")
    return df


def download_shards(parquet: str | Path, out_dir: str | Path, num_shards: int, samples_per_shard: int,
                    image_size: int = 64, processes: int = 2, threads: int = 8, timeout: float = 10,
                    max_failure_rate: float = 0.05, expected: list[str] | None = None) -> dict:
    """Download the first ``num_shards * samples_per_shard`` rows into ``out_dir/NNNNN.tar`` etc.

    img2dataset writes into a temporary folder; the shards are moved into place only when the
    failure rate is acceptable, so a failed download leaves no shard behind.
    """
    from img2dataset import download

    df = check_metadata(parquet)
    need = (num_shards - 1) * samples_per_shard + 1
    if len(df) < need:
        raise ValueError(f"{parquet} has {len(df)} rows but data.num_shards={num_shards} with "
                         f"download.samples_per_shard={samples_per_shard} needs at least {need}: "
                         f"set data.num_shards to {math.ceil(len(df) / samples_per_shard)}")
    df = df.iloc[: num_shards * samples_per_shard]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=out_dir) as tmp:
        urls = Path(tmp) / "urls.parquet"
        df.to_parquet(urls, index=False)
        stage = Path(tmp) / "shards"
        extra = [c for c in df.columns if c not in ("URL", "TEXT")]
        os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
        download(url_list=str(urls), input_format="parquet", url_col="URL", caption_col="TEXT",
                 output_format="webdataset", output_folder=str(stage), processes_count=processes,
                 thread_count=threads, image_size=image_size, resize_mode="border",
                 number_sample_per_shard=samples_per_shard, save_additional_columns=extra or None,
                 enable_wandb=False, distributor="multiprocessing", timeout=timeout, retries=0)
        stats = {}
        for i in range(num_shards):
            f = stage / f"{i:05d}_stats.json"
            if not f.exists():
                raise RuntimeError(f"img2dataset wrote no shard {i:05d} (see the log above)")
            stats[i] = json.loads(f.read_text())
        count = sum(s["count"] for s in stats.values())
        ok = sum(s["successes"] for s in stats.values())
        failed = count - ok
        rate = failed / max(1, count)
        report = {"urls": count, "successes": ok, "failures": failed, "failure_rate": rate,
                  "status": {k: v for s in stats.values() for k, v in s.get("status_dict", {}).items()}}
        if rate > max_failure_rate:
            raise RuntimeError(f"download failed: {failed} of {count} URLs ({rate:.1%}) could not be fetched, above "
                               f"download.max_failure_rate={max_failure_rate:.1%}; errors: {report['status']}. "
                               "Check the URLs (network, file paths) or raise the threshold.")
        for i in range(num_shards):
            for suffix in (".tar", ".parquet", "_stats.json"):
                src = stage / f"{i:05d}{suffix}"
                if src.exists():
                    shutil.move(str(src), out_dir / src.name)
    if expected:
        absent = [p for p in expected if not Path(p).exists()]
        if absent:
            raise RuntimeError(f"expected shards were not written: {absent}")
    return report
