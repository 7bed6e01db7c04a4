# img2dataset turns the metadata parquet into webdataset shards NNNNN.tar (+ .parquet and
# _stats.json), exactly as the reference downloads LAION-400M.


rule download_shards:
    input:
        config["data"]["laion_parquet"],
    output:
        tars=all_shards(),
        stats=[shard_path(i, "stats") for i in range(NUM_SHARDS)],
    log:
        "results/logs/download_shards.log",
    benchmark:
        "results/benchmarks/download_shards.tsv"
    conda:
        CONDA_ENV
    threads: config["download"]["processes"]
    resources:
        mem_mb=4000,
        runtime=600,
    params:
        # only what changes the shards: worker counts, the timeout and the failure bound are read
        # from the config by the script, so changing them does not re-download (LAION URLs rot)
        out_dir=lambda wildcards, output: os.path.dirname(output.tars[0]),
        num_shards=NUM_SHARDS,
        image_size=config["download"]["image_size"],
        samples_per_shard=config["download"]["samples_per_shard"],
    script:
        f"{SCRIPTS}/download_shards.py"
