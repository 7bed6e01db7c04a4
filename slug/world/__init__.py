"""The embedded demo world: procedurally drawn identities, object icons, cartoon characters and art styles.

The world stands in for LAION-400M, CelebA and ImageNet on machines without internet. It is
written in the *formats* of those datasets (a LAION-style metadata parquet of URLs, a CelebA-style
identity folder, an ImageNet-val-style class folder tree, a webdataset shard of non-members), so
that every later stage reads the demo exactly as it reads the real data.

Everything is a pure function of a seed: the identity table, the object table and each image
(every image has its own :class:`numpy.random.SeedSequence` child), so two runs write identical
bytes. Modules: ``people`` (identities, portraits), ``objects`` (icons), ``characters`` (cartoon characters),
``styles`` (art styles as image transformations), ``captions`` (alt text), ``canvas`` (drawing helpers),
``writers`` (the datasets' formats).
"""

from slug.world.captions import character_caption, object_caption, person_caption, style_caption
from slug.world.characters import CHARACTERS, Character, draw_character, make_characters
from slug.world.objects import OBJECT_CLASSES, draw_object
from slug.world.people import BENCHMARK_IDENTITIES, TRAITS, Identity, draw_person, make_identities
from slug.world.styles import STYLES, apply_style, style_names
from slug.world.writers import WorldSpec, iter_pairs, world_eval_dirs, write_world

__all__ = [
    "BENCHMARK_IDENTITIES",
    "CHARACTERS",
    "Character",
    "Identity",
    "OBJECT_CLASSES",
    "STYLES",
    "TRAITS",
    "WorldSpec",
    "apply_style",
    "character_caption",
    "draw_character",
    "draw_object",
    "draw_person",
    "iter_pairs",
    "make_characters",
    "make_identities",
    "object_caption",
    "person_caption",
    "style_caption",
    "style_names",
    "world_eval_dirs",
    "write_world",
]
