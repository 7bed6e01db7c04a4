"""Fetch the LAION metadata parquet (paper configs; rule `laion_metadata`)."""
import urllib.request

from slug.io import atomic_path
from slug.workflow import setup

log = setup(snakemake.log[0])
url, out = snakemake.params.url, snakemake.output[0]
if not url:
    raise SystemExit(f"{out} is missing and data.laion_parquet_url is not set: download the LAION-400M "
                     "metadata parquet (see README, 'Paper setting') to that path or set the URL")
log.info("downloading %s -> %s", url, out)
with atomic_path(out) as tmp, urllib.request.urlopen(url, timeout=60) as r:
    tmp.write_bytes(r.read())
