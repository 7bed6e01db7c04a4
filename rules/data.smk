# Where the raw data comes from. The demo world generates it; the paper configs fetch what can
# be fetched (the LAION metadata parquet) and stop with instructions for what needs an access
# request (CelebA, ImageNet, CC3M). Every later rule reads the same formats either way.

if "world" in config:

    rule world:
        output:
            parquet=config["data"]["laion_parquet"],
            identities=os.path.join(WORLD_DIR, "identities.json"),
            images=directory(os.path.join(WORLD_DIR, "images")),
            celeba_list=f"{CELEBA}/list_identity_celeba.txt",
            celeba_frequent=f"{CELEBA}/frequent_celebs.txt",
            celeba_images=directory(f"{CELEBA}/img_align_celeba"),
            imagenet_map=f"{IMAGENET}/LOC_synset_mapping.txt",
            imagenet_val=directory(f"{IMAGENET}/val"),
            nonmember=config["data"]["nonmember_shards"],
        log:
            "results/logs/world.log",
        benchmark:
            "results/benchmarks/world.tsv"
        params:
            world=config["world"],
            seed=config["seed"],
        resources:
            mem_mb=4000,
            runtime=30,
        conda:
            CONDA_ENV
        script:
            f"{SCRIPTS}/world.py"

else:

    rule laion_metadata:
        output:
            config["data"]["laion_parquet"],
        log:
            "results/logs/laion_metadata.log",
        benchmark:
            "results/benchmarks/laion_metadata.tsv"
        params:
            url=config["data"].get("laion_parquet_url", ""),
        resources:
            mem_mb=2000,
            runtime=60,
        conda:
            CONDA_ENV
        script:
            f"{SCRIPTS}/fetch_metadata.py"

    rule external_dataset:
        # CelebA, ImageNet and CC3M are distributed on request: this rule only checks for them.
        output:
            celeba_list=f"{CELEBA}/list_identity_celeba.txt",
            imagenet_map=f"{IMAGENET}/LOC_synset_mapping.txt",
            nonmember=config["data"]["nonmember_shards"],
        log:
            "results/logs/external_dataset.log",
        params:
            celeba=CELEBA,
            imagenet=IMAGENET,
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            CONDA_ENV
        script:
            f"{SCRIPTS}/external_dataset.py"
