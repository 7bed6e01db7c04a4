"""A concept's class by kind: a person among the identities, an object among the object classes, in the
task list's bookkeeping (the target's class left out of its own task's retain accuracy only)."""
import pytest
import torch

from slug.clip.evaluation.sets import EvalSet
from slug.clip.evaluation.tasks import eval_tasks, task_metrics


def _es():
    return EvalSet(id_images=torch.zeros(4, 3), id_labels=torch.tensor([0, 0, 1, 1]), id_names=["Ada X", "Bo Y"],
                   obj_images=torch.zeros(6, 3), obj_labels=torch.tensor([0, 0, 1, 1, 2, 2]),
                   obj_names=["dog", "golden retriever", "mug"])


def test_a_person_is_a_class_of_the_identities_and_an_object_of_the_objects():
    es = _es()
    assert es.target("Bo Y") == ("identities", 1)
    assert es.target("Golden Retriever", "object") == ("objects", 1)  # class names compared case-insensitively
    with pytest.raises(ValueError, match="'teapot' is not a class of the ImageNet-format object set"):
        es.target("teapot", "object")
    with pytest.raises(ValueError, match="'Mickey Mouse' is a character: .* cannot be evaluated yet"):
        es.target("Mickey Mouse", "character")


def test_an_object_target_is_left_out_of_the_objects_retain_only():
    es = _es()
    tasks = eval_tasks(es)
    # features = one-hot of the predicted class; every image right except the dog images (predicted as mug)
    id_f = torch.eye(2)[torch.tensor([0, 0, 1, 1])]
    obj_f = torch.eye(3)[torch.tensor([2, 2, 1, 1, 2, 2])]
    feats, clfs = {"identities": id_f, "objects": obj_f}, {"identities": torch.eye(2), "objects": torch.eye(3)}
    m = task_metrics(feats, clfs, tasks, {"c": es.target("golden retriever", "object")}, ks=(1,))
    assert m["forget"]["c"]["top1"] == 1.0
    assert m["objects_top1"] == pytest.approx(0.5)  # dog 0/2 and mug 2/2 over images; the retriever left out
    assert m["retain_id_top1"] == 1.0  # both identities kept
    m = task_metrics(feats, clfs, tasks, {"c": es.target("dog", "object")}, ks=(1,))
    assert m["forget"]["c"]["top1"] == 0.0 and m["objects_top1"] == 1.0
