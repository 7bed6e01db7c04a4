"""Bad input gets a clear error naming the input and the fix (a first slice of the reliability issue)."""

import pytest
import torch

from slug.data import check_shard, read_celeba
import hashlib

from slug.io import atomic_path, atomic_torch_save, load_tensor_dict, sha256
from slug.core.unlearn import apply_deltas, single_layer_delta
from slug.clip.models import load_clip


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):  # would run a command if unpickled with weights_only=False
        import os
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_refused_and_never_executed(tmp_path):
    path, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    torch.save({"w": torch.zeros(1), "x": _Payload(marker)}, path)
    with pytest.raises(ValueError, match="refused to load.*weights_only=True"):
        load_tensor_dict(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: unpickled unsafely, it runs
    assert marker.exists()


def test_nan_gradients_are_refused(tmp_path):
    path = tmp_path / "g.pt"
    torch.save({"visual.proj": torch.tensor([1.0, float("nan")])}, path)
    with pytest.raises(ValueError, match="NaN or Inf.*visual.proj.*recompute"):
        load_tensor_dict(path, check_finite=True)


def test_checkpoint_that_is_not_a_state_dict_or_has_wrong_shapes(tiny_clip, tmp_path):
    bad = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], bad)
    with pytest.raises(ValueError, match="expected a dict of name -> tensor"):
        load_clip("SLUG-Tiny-ViT", str(bad))
    state = {k: v.clone() for k, v in tiny_clip.model.state_dict().items()}
    state["visual.proj"] = torch.zeros(3, 3)
    wrong = tmp_path / "wrong.pt"
    torch.save(state, wrong)
    with pytest.raises(ValueError, match=r"shape mismatches visual.proj: file \(3, 3\).*model.arch"):
        load_clip("SLUG-Tiny-ViT", str(wrong))


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model architecture 'ViT-Q-99'.*list_models"):
        load_clip("ViT-Q-99")


def test_a_coca_model_is_refused_before_it_is_built_or_downloaded(monkeypatch):
    import open_clip

    from slug.clip.models import fetch_pretrained

    def no_building(*a, **k):
        raise AssertionError("built")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", no_building)
    monkeypatch.setattr(open_clip, "create_model", no_building)
    with pytest.raises(ValueError, match="'coca_ViT-B-32' is a CoCa model.*dual-encoder CLIP and SigLIP"):
        load_clip("coca_ViT-B-32")
    with pytest.raises(ValueError, match="is a CoCa model"):
        fetch_pretrained("coca_ViT-B-32", "laion2b_s13b_b90k")


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"not a tar at all" * 40, "truncated or corrupt")])
def test_empty_or_corrupt_shards(tmp_path, content, match):
    path = tmp_path / "00000.tar"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"shard .*00000.tar is {match}.*re-run the download rule"):
        check_shard(path)


def test_truncated_shard(tiny_world, tmp_path):
    data = (tiny_world / "nonmember" / "00000.tar").read_bytes()
    path = tmp_path / "00000.tar"
    path.write_bytes(data[: len(data) // 2 + 100])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        check_shard(path)


def test_missing_celeba_identity_list(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing CelebA identity list.*list_identity_celeba.txt"):
        read_celeba(tmp_path)


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_the_target_and_clears_a_killed_writers_temp_file(tmp_path):
    target = tmp_path / "forget_grads.pt"
    stale = tmp_path / ".forget_grads.pt.k1ll3d00.tmp"  # what a SIGKILL in the middle of a write leaves
    stale.write_text("half")
    other = tmp_path / ".other.pt.k1ll3d00.tmp"  # another output's: not ours to remove
    other.write_text("half")
    with atomic_path(target) as tmp:
        assert not target.exists()
        tmp.write_text("whole")
    assert target.read_text() == "whole" and not stale.exists() and other.exists()
    longer = tmp_path / ".forget_grads.pt.gz.k1ll3d00.tmp"  # another output whose name extends this one's
    longer.write_text("half")
    with atomic_path(target) as tmp:
        tmp.write_text("again")
    assert longer.exists() and target.read_text() == "again"


def test_atomic_writes_get_the_usual_permissions_not_the_temporary_files(tmp_path):
    # mkstemp creates 0600 files; a result folder shared by a group must stay readable as with open()
    import stat

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with atomic_path(tmp_path / "artifact.json") as tmp:
        assert stat.S_IMODE(tmp.stat().st_mode) == 0o600
        tmp.write_text("x")
    expected = stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE((tmp_path / "artifact.json").stat().st_mode) == expected
    assert expected == 0o666 & ~_current_umask()


def _current_umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_a_webdataset_shard_is_compressed_by_its_real_name(tmp_path):
    import gzip
    import tarfile

    from slug.data import write_wds_shard

    samples = [("000000001", b"\xff\xd8jpeg", "a cup", {"kind": "object"})]
    assert write_wds_shard(tmp_path / "a.tar.gz", samples) == 1
    assert (tmp_path / "a.tar.gz").read_bytes()[:2] == b"\x1f\x8b"  # gzip, as the name says
    with tarfile.open(fileobj=gzip.open(tmp_path / "a.tar.gz")) as tar:
        assert sorted(tar.getnames()) == ["000000001.jpg", "000000001.json", "000000001.txt"]
    write_wds_shard(tmp_path / "b.tar", samples)
    assert tarfile.is_tarfile(tmp_path / "b.tar") and (tmp_path / "b.tar").read_bytes()[:2] != b"\x1f\x8b"


def test_the_same_tensors_give_the_same_bytes_and_checksum_wherever_they_are_saved(tmp_path):
    tensors = {"visual.proj": torch.arange(12.0).reshape(3, 4), "logit_scale": torch.tensor(4.6)}
    a, b = tmp_path / "a.pt", tmp_path / "sub" / "b.pt"
    atomic_torch_save(tensors, a)
    atomic_torch_save({k: v.clone() for k, v in tensors.items()}, b)
    assert a.read_bytes() == b.read_bytes()  # selection.json's input checksums are reproducible
    assert sha256(a) == hashlib.sha256(a.read_bytes()).hexdigest()
    assert all(torch.equal(load_tensor_dict(b)[k], v) for k, v in tensors.items())


def test_the_unlearning_step_goes_against_the_gradient_and_refuses_mismatches():
    theta, g = torch.ones(2, 3), torch.full((2, 3), 0.5)
    d = single_layer_delta(theta, g, 2.0)
    assert torch.equal(d, torch.full((2, 3), -1.0))
    with pytest.raises(ValueError, match="lambda must be >= 0"):
        single_layer_delta(theta, g, -1.0)
    with pytest.raises(ValueError, match=r"gradient shape \(3, 2\) does not match the layer's \(2, 3\)"):
        single_layer_delta(theta, g.T, 1.0)
    state = {"w": theta, "b": torch.zeros(3)}
    out = apply_deltas(state, {"w": d})
    assert torch.equal(out["w"], torch.zeros(2, 3)) and out["b"] is state["b"] and torch.equal(state["w"], theta)
    on_device = apply_deltas({"w": torch.zeros(2, 3, device="meta", dtype=torch.float16)}, {"w": d})
    assert on_device["w"].device.type == "meta" and on_device["w"].dtype == torch.float16  # the model's, as on a GPU
    with pytest.raises(KeyError, match="'v', which the model does not have"):
        apply_deltas(state, {"v": d})
    with pytest.raises(ValueError, match="delta for 'b' has shape"):
        apply_deltas(state, {"b": d})
