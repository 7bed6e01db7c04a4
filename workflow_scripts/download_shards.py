"""Download the metadata parquet into webdataset shards with img2dataset (rule `download_shards`)."""
from slug.data.download import download_shards
from slug.workflow import setup

if __name__ == "__main__":  # img2dataset uses multiprocessing
    p, run = snakemake.params, snakemake.config["download"]  # run settings: not params, so no re-download
    log = setup(snakemake.log[0])
    report = download_shards(
        parquet=snakemake.input[0], out_dir=p.out_dir, num_shards=p.num_shards, samples_per_shard=p.samples_per_shard,
        image_size=p.image_size, processes=run["processes"], threads=run["threads"], timeout=run["timeout"],
        max_failure_rate=run["max_failure_rate"], expected=list(snakemake.output.tars))
    log.info("download report: %s", report)
