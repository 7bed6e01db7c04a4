"""A concept's class by kind: a person among the identities, an object among the object classes, a character
among every character and person name, a style among the styles, in the task list's bookkeeping (the
target's class left out of its own task's retain accuracy only, each task reported on its own)."""
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
    with pytest.raises(ValueError, match="object 'teapot' is not a class of LOC_synset_mapping.txt"):
        es.target("teapot", "object")
    with pytest.raises(ValueError, match="'Mickey Mouse' is a character, but this evaluation has no characters task: "
                                         r"set the character folders \(data.characters_dir\)"):
        es.target("Mickey Mouse", "character")
    with pytest.raises(ValueError, match=r"no styles task: set .*data.canvas_dir"):
        es.target("Van Gogh", "style")


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


def _es_all():
    es = _es()
    es.char_images, es.char_labels, es.char_names = torch.zeros(4, 3), torch.tensor([0, 0, 1, 1]), ["Iron Man",
                                                                                                  "Mickey Mouse"]
    es.style_images, es.style_labels, es.style_names = torch.zeros(6, 3), torch.tensor([0, 0, 1, 1, 2, 2]), [
        "Mosaic", "Pop Art", "Van Gogh"]
    return es


def test_characters_are_classified_among_characters_and_people_and_styles_among_styles():
    es = _es_all()
    tasks = {t.name: t for t in eval_tasks(es)}
    assert list(tasks) == ["identities", "objects", "characters", "styles"]
    assert tasks["characters"].classnames == ["Iron Man", "Mickey Mouse", "Ada X", "Bo Y"]
    assert tasks["styles"].classnames == ["Mosaic", "Pop Art", "Van Gogh"]
    assert "{}" in tasks["styles"].templates[0] and "style" in tasks["styles"].templates[0]
    assert es.target("mickey mouse", "character") == ("characters", 1)
    assert es.target("Van Gogh", "style") == ("styles", 2)


def test_a_character_target_is_left_out_of_the_characters_retain_only_and_every_task_is_reported():
    es = _es_all()
    tasks = eval_tasks(es)
    one_hot = lambda n, pred: torch.eye(n)[torch.tensor(pred)]  # noqa: E731
    # Mickey's images are taken for the person "Bo Y" (class 3 of the characters task); Iron Man's are right;
    # one Pop Art image is taken for Mosaic
    feats = {"identities": one_hot(2, [0, 0, 1, 1]), "objects": one_hot(3, [0, 0, 1, 1, 2, 2]),
             "characters": one_hot(4, [0, 0, 3, 3]), "styles": one_hot(3, [0, 0, 0, 1, 2, 2])}
    clfs = {"identities": torch.eye(2), "objects": torch.eye(3), "characters": torch.eye(4), "styles": torch.eye(3)}
    m = task_metrics(feats, clfs, tasks, {"c": es.target("Mickey Mouse", "character")}, ks=(1,))
    assert m["forget"]["c"]["top1"] == 0.0
    assert m["characters_top1"] == 1.0  # Iron Man only: Mickey left out, the people classes have no images
    assert m["styles_top1"] == pytest.approx((1 + 0.5 + 1) / 3)  # per style
    assert m["retain_id_top1"] == 1.0 and m["objects_top1"] == 1.0
    m = task_metrics(feats, clfs, tasks, {"c": es.target("Pop Art", "style")}, ks=(1,))
    assert m["forget"]["c"]["top1"] == 0.5 and m["styles_top1"] == 1.0
    assert m["characters_top1"] == pytest.approx(0.5)  # Mickey counts again when he is not the target
