"""Reports name the actions: worst classes, the per-class table and the confusion-matrix axes."""
import torch

from cpstn_min.data.synthetic.motions import CLASS_NAMES
from cpstn_min.evaluation.report import format_table, per_class_table, plot, summarize


def scores_and_labels():
    """4 classes, 2 clips each; class 2 always taken for class 1, class 3 half right."""
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    predicted = torch.tensor([0, 0, 2, 2, 2, 2, 3, 0])
    return torch.nn.functional.one_hot(predicted, 4).float(), labels


def test_summary_and_table_name_the_worst_classes():
    names = ("drink water", "eat meal/snack", "brushing teeth", "brushing hair")
    m = summarize(*scores_and_labels(), 4, names)
    assert [(w["name"], w["top1"]) for w in m["worst_classes"]] == \
        [("eat meal/snack", 0.0), ("brushing hair", 50.0), ("drink water", 100.0), ("brushing teeth", 100.0)]
    assert m["per_class_summary"]["worst_class_name"] == "eat meal/snack"
    table = format_table([("protocol", "linear")], m)
    assert "0.00 % (eat meal/snack)" in table and "| worst classes             | 0.00 % eat meal/snack" in table
    rows = per_class_table(m).splitlines()
    assert rows[3] == "| 1 | eat meal/snack | 2 | 0.0 | brushing teeth (2) |"
    assert rows[2] == "| 0 | drink water | 2 | 100.0 | – |"


def test_without_names_the_ids_are_used():
    m = summarize(*scores_and_labels(), 4)
    assert m["class_names"] == ["class 0", "class 1", "class 2", "class 3"]
    assert m["worst_classes"][0]["name"] == "class 1"


def test_confusion_matrix_axes_carry_the_action_names(tmp_path):
    labels = torch.arange(26)
    scores = torch.nn.functional.one_hot(labels, 26).float()
    m = summarize(scores, labels, 26, CLASS_NAMES)
    fig = plot(str(tmp_path / "p.png"), "t", {"k": [1, 5], "top1": [10.0, 20.0]}, m["confusion"], CLASS_NAMES)
    conf_ax = fig.axes[1]
    assert [t.get_text() for t in conf_ax.get_xticklabels()] == list(CLASS_NAMES)
    assert [t.get_text() for t in conf_ax.get_yticklabels()] == list(CLASS_NAMES)
    assert (tmp_path / "p.png").stat().st_size > 0
