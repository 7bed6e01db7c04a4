# Where the raw data comes from. The demo world generates it; the paper configs fetch what can
# be fetched (the LAION metadata parquet) and stop with instructions for what needs an access
# request (CelebA, ImageNet, CC3M). Every later rule reads the same formats either way.

if "world" in config:

    rule world:
        output:
            **{k: directory(v) for k, v in EVAL_DIRS.items() if k in ("characters", "canvas") and v},
            parquet=config["data"]["laion_parquet"],
            identities=os.path.join(WORLD_DIR, "identities.json"),
            characters_table=os.path.join(WORLD_DIR, "characters.json"),
            images=directory(os.path.join(WORLD_DIR, "images")),
            celeba_list=f"{CELEBA}/list_identity_celeba.txt",
            celeba_frequent=f"{CELEBA}/frequent_celebs.txt",
            celeba_images=directory(f"{CELEBA}/img_align_celeba"),
            imagenet_map=f"{IMAGENET}/LOC_synset_mapping.txt",
            imagenet_val=directory(f"{IMAGENET}/val"),
            nonmember=config["data"]["nonmember_shards"],
            # the character folders and the UnlearnCanvas-layout styles, where the config evaluates them
        log:
            "results/logs/world.log",
        benchmark:
            "results/benchmarks/world.tsv"
        conda:
            CONDA_ENV
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            world=config["world"],
            seed=config["seed"],
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
        localrule: True  # a check or a download: runs where Snakemake runs, not as a cluster job
        conda:
            CONDA_ENV
        resources:
            mem_mb=2000,
            runtime=60,
        params:
            url=config["data"].get("laion_parquet_url", ""),
        script:
            f"{SCRIPTS}/fetch_metadata.py"

    # One rule per access-restricted file: a job's outputs are deleted before it runs, so one rule with
    # all three outputs would delete the files a person had already put in place when one is missing.
    for i, external_file in enumerate(
        [f"{CELEBA}/list_identity_celeba.txt", f"{IMAGENET}/LOC_synset_mapping.txt", *config["data"]["nonmember_shards"]]
        + [directory(EVAL_DIRS[k]) for k in ("characters", "canvas") if EVAL_DIRS[k]]
    ):

        rule:
            # CelebA, ImageNet and CC3M are distributed on request: this rule only checks for them.
            name:
                f"external_dataset_{i}"
            output:
                external_file,
            log:
                f"results/logs/external_dataset/{i}.log",
            benchmark:
                f"results/benchmarks/external_dataset/{i}.tsv"
            localrule: True  # a check: runs where Snakemake runs, not as a cluster job
            conda:
                CONDA_ENV
            resources:
                mem_mb=1000,
                runtime=10,
            params:
                where=(
                    f"CelebA: put img_align_celeba/, list_identity_celeba.txt ('image_id identity_name' lines after "
                    f"two header lines) and frequent_celebs.txt under {CELEBA}/.\nImageNet: put val/<wnid>/*.JPEG "
                    f"and LOC_synset_mapping.txt under {IMAGENET}/.\nCC3M: download one shard with img2dataset "
                    "(output_format webdataset) to the nonmember_shards path.\nCharacters: a folder of images per "
                    f"character (Mickey_Mouse/0001.jpg) under {EVAL_DIRS['characters']}.\nUnlearnCanvas: the "
                    f"dataset's <Style>/<Object>/<n>.jpg folders and Seed_Images/ under {EVAL_DIRS['canvas']}."
                ),
            script:
                f"{SCRIPTS}/external_dataset.py"
