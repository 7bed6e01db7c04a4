"""Images are held as uint8 pixels and normalised per batch, bit-identical to the whole transform."""
import torch
from PIL import Image
from torchvision import transforms as T

from slug.data import ImageStore, load_images, load_pairs


def _paths(tiny_world):
    return sorted(str(p) for p in (tiny_world / "imagenet" / "val").rglob("*.JPEG"))[:12]


def test_stored_pixels_give_exactly_what_the_transform_gives_at_a_quarter_of_the_memory(tiny_world, tiny_clip):
    paths = _paths(tiny_world)
    store = load_images(paths, tiny_clip.preprocess_val)
    ref = torch.stack([tiny_clip.preprocess_val(Image.open(p).convert("RGB")) for p in paths])
    assert store.pixels.dtype == torch.uint8 and store.shape == ref.shape
    assert store.nbytes * 4 == ref.numel() * ref.element_size()
    assert torch.equal(store.to("cpu"), ref)  # bit for bit, not approximately
    mask = torch.arange(len(paths)) % 3 == 0
    assert torch.equal(store[2:7].to("cpu"), ref[2:7]) and torch.equal(store[mask].to("cpu"), ref[mask])
    assert torch.equal(store[torch.tensor([5, 0])].to("cpu"), ref[[5, 0]]) and torch.equal(store[4].to("cpu"), ref[4])


def test_a_random_training_transform_draws_the_same_crops(tiny_world, tiny_clip):
    paths = _paths(tiny_world)
    torch.manual_seed(7)
    store = load_images(paths, tiny_clip.preprocess_train)
    torch.manual_seed(7)
    ref = torch.stack([tiny_clip.preprocess_train(Image.open(p).convert("RGB")) for p in paths])
    assert any(isinstance(t, T.RandomResizedCrop) for t in tiny_clip.preprocess_train.transforms)
    assert torch.equal(store.to("cpu"), ref)


def test_a_transform_without_normalize_keeps_its_float_output(tiny_world):
    paths = _paths(tiny_world)
    tf = T.Compose([T.Resize(16), T.ToTensor()])
    store = load_images(paths, tf)
    assert store.pixels.dtype == torch.float32 and store.lut is None
    assert torch.equal(store.to("cpu"), torch.stack([tf(Image.open(p).convert("RGB")) for p in paths]))


def test_shard_pairs_are_stored_as_pixels_too(tiny_world, tiny_clip):
    images, tokens, caps = load_pairs([tiny_world / "nonmember" / "00000.tar"], tiny_clip.preprocess_val,
                                      tiny_clip.tokenizer)
    assert isinstance(images, ImageStore) and images.pixels.dtype == torch.uint8
    assert len(images) == len(tokens) == len(caps) > 0


def test_pairs_decoded_late_equal_webdatasets_own_decoding_in_key_order(tiny_world, tiny_clip):
    from slug.data import iter_shards

    shard = tiny_world / "nonmember" / "00000.tar"
    images, _, caps = load_pairs([shard], tiny_clip.preprocess_val, tiny_clip.tokenizer)
    decoded = sorted(iter_shards([shard]), key=lambda s: s.key)  # webdataset's "pil" decoder
    assert caps == [s.caption for s in decoded] and all(isinstance(c, str) for c in caps)
    assert torch.equal(images.to("cpu"), torch.stack([tiny_clip.preprocess_val(s.image) for s in decoded]))


def test_every_pixel_value_maps_exactly_as_totensor_then_normalize_on_the_cpu():
    img = Image.fromarray(torch.arange(256, dtype=torch.uint8).view(16, 16, 1).expand(16, 16, 3).numpy().copy())
    for mean, std in (((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
                      ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), ((0.5,), (0.25,))):  # one value for every channel
        tf = T.Compose([T.ToTensor(), T.Normalize(mean, std)])
        store = ImageStore.from_images(iter([img]), 1, tf)
        assert store.lut.shape == (len(mean), 256) and torch.equal(store.to("cpu")[0], tf(img))
