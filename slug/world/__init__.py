"""The embedded demo world: procedurally drawn identities and object icons.

The world stands in for LAION-400M, CelebA and ImageNet on machines without internet. It is
written in the *formats* of those datasets (a LAION-style metadata parquet of URLs, a CelebA-style
identity folder, an ImageNet-val-style class folder tree, a webdataset shard of non-members), so
that every later stage reads the demo exactly as it reads the real data.

Everything is a pure function of a seed: the identity table, the object table and each image
(every image has its own :class:`numpy.random.SeedSequence` child), so two runs write identical
bytes. Modules: ``people`` (identities, portraits), ``objects`` (icons), ``captions`` (alt text),
``canvas`` (drawing helpers), ``writers`` (the datasets' formats).
"""

from slug.world.captions import object_caption, person_caption
from slug.world.objects import OBJECT_CLASSES, draw_object
from slug.world.people import BENCHMARK_IDENTITIES, TRAITS, Identity, draw_person, make_identities
from slug.world.writers import WorldSpec, iter_pairs, write_world

__all__ = ["BENCHMARK_IDENTITIES", "OBJECT_CLASSES", "TRAITS", "Identity", "WorldSpec", "draw_object", "draw_person",
           "iter_pairs", "make_identities", "object_caption", "person_caption", "write_world"]
