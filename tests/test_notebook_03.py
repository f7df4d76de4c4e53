"""Notebook 03, CIFAR-10, padding modes and pooling: it runs clean, what it loads and the batches it
shows, the padding modes and the pooling it computes, its exercises' checks (planted mistakes
named, the answers never given).

The tests read the notebook's own variables, so they hold for the 20 bundled images offline and
for the full test set alike.
"""

# ruff: noqa: E501 (the planted answers are written as a student writes them, a line each)

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import notebook_checks as checks
import utils

NOTEBOOK = "03_cifar10_loading"


# --- the notebook's numbers ---------------------------------------------------------------------


def printed(nb) -> str:
    return "".join(out.get("text", "") for c in nb.cells if c.cell_type == "code" for out in c.outputs)


def test_it_loads_a_cifar10_test_set_and_says_which(notebook):
    n_images = notebook.value("n_images")
    assert n_images in (20, 10_000)
    text = printed(notebook.nb)
    assert text.count("Using the ") == 2  # one line per load, from utils.load_cifar10_test
    assert f"{n_images} images in 10 classes" in text
    assert notebook.value("classes")[:4] == ["airplane", "automobile", "bird", "cat"]


def test_the_first_batch_has_the_documented_shapes_types_and_ranges(notebook):
    n_in_batch = min(32, notebook.value("n_images"))
    images, images_raw = checks.array(notebook, "images"), checks.array(notebook, "images_raw")
    assert images.shape == images_raw.shape == (n_in_batch, 3, 32, 32)
    assert -1 <= images.min() < -0.9 and 0.9 < images.max() <= 1  # the whole [-1, 1] is used
    assert 0 <= images_raw.min() < 0.1 and 0.9 < images_raw.max() <= 1
    np.testing.assert_allclose(images, 2 * images_raw - 1, atol=1e-6)  # Normalize(0.5, 0.5)
    assert notebook.value("labels.tolist()") == notebook.value("labels_raw.tolist()")
    text = printed(notebook.nb)
    assert f"images      ({n_in_batch}, 3, 32, 32) torch.float32, values in [{images.min():.3f}" in text
    assert f"labels      ({n_in_batch},) torch.int64" in text


def test_the_stages_table_follows_test_image_0_through_the_pipeline(notebook):
    rows = notebook.value("stages.to_dict('index')")
    assert list(rows) == ["stored array", "ToTensor()", "ToTensor() + Normalize"]
    rows = list(rows.values())
    assert [r["shape"] for r in rows] == [[32, 32, 3], [3, 32, 32], [3, 32, 32]]
    assert [r["dtype"] for r in rows] == ["uint8", "torch.float32", "torch.float32"]
    assert rows[0]["max"] <= 255 and rows[1]["max"] <= 1 and rows[2]["min"] >= -1


def test_the_two_images_are_the_cat_and_the_airplane(notebook):
    assert notebook.value("shown_classes") == ["cat", "airplane"]


def test_the_batch_goes_through_edge_filters_into_feature_maps(notebook):
    images = torch.tensor(notebook.value("images.tolist()"))
    maps = checks.array(notebook, "feature_maps")
    assert maps.shape == (len(images), 3, 32, 32)
    expected = F.conv2d(images, utils.edge_filters(3), padding=1).numpy()
    np.testing.assert_allclose(maps, expected, atol=1e-5)
    assert np.abs(maps).max() > 1  # real edges, not an empty output
    assert f"-> feature maps ({len(images)}, 3, 32, 32)" in printed(notebook.nb)


def test_the_normalisation_is_named_for_what_it_is():
    assert utils.HALF_MEAN == utils.HALF_STD == (0.5, 0.5, 0.5)
    assert not hasattr(utils, "CIFAR10_MEAN") and not hasattr(utils, "CIFAR10_STD")


def test_padding_modes_put_what_they_say_in_the_border(notebook):
    toy = torch.arange(16.0).view(1, 1, 4, 4)
    padded = notebook.value("{name: grid.tolist() for name, grid in padded.items()}")
    assert padded["zeros"][0] == [0.0] * 6
    assert padded["reflect"][0][1:5] == toy[0, 0, 1].tolist()
    assert padded["replicate"][0][1:5] == toy[0, 0, 0].tolist()
    assert padded["circular"][0][1:5] == toy[0, 0, 3].tolist()
    for name, mode in notebook.value("pad_modes").items():
        assert padded[name] == F.pad(toy, (1, 1, 1, 1), mode=mode)[0, 0].tolist()


def test_padding_modes_change_only_the_border_and_the_table_is_measured(notebook):
    cat = torch.tensor(notebook.value("images[:1].tolist()"))
    ring = torch.ones(32, 32, dtype=torch.bool)
    ring[1:-1, 1:-1] = False
    table = notebook.value("border_table.to_dict('index')")
    maps = {}
    for name in ("zeros", "reflect", "replicate", "circular"):
        layer = torch.nn.Conv2d(3, 3, 3, padding=1, padding_mode=name, bias=False)
        with torch.no_grad():
            layer.weight.copy_(utils.edge_filters(3))
            maps[name] = layer(cat)[0, 2]
        assert table[name]["border"] == pytest.approx(maps[name][ring].abs().mean().item(), abs=1e-6)
        assert table[name]["inside"] == pytest.approx(maps[name][~ring].abs().mean().item(), abs=1e-6)
        assert torch.allclose(maps[name][~ring], maps["zeros"][~ring])  # the inside never changes
    louder = [name for name, row in table.items() if row["border"] > row["inside"]]
    quieter = [name for name, row in table.items() if row["border"] < row["inside"]]
    # What the prose says of this image: zeros and circular make steps, reflect and replicate fewer.
    assert louder == ["zeros", "circular"] and quieter == ["reflect", "replicate"]
    assert f"the border responds more than the inside with {louder}, less with {quieter}" in printed(
        notebook.nb
    )


def test_pooling_by_hand_matches_pytorch_and_the_size_formula(notebook):
    diffs = notebook.value("[float(v) for v in pooling_diffs.values()]")
    assert len(diffs) == 4 and max(diffs) < 1e-6
    images = torch.tensor(notebook.value("images.tolist()"))
    ours = np.array(notebook.value("pool_by_hand(images.numpy(), 3, 2, 'max', 1).tolist()"))
    np.testing.assert_allclose(ours, F.max_pool2d(images, 3, 2, 1).numpy(), atol=1e-6)
    assert notebook.value("pool_checked") > 500 and notebook.value("pool_disagreements") == []
    assert (
        f"pooling layers checked: {notebook.value('pool_checked')}; disagreements with the formula: 0"
        in printed(notebook.nb)
    )


# --- the exercises: planted mistakes ------------------------------------------------------------

# (grade_id of the check cell, a planted answer cell, a fragment of the message it must get)
PLANTED = [
    ("ex1a-check", "def channel_mean(images):\n    return images.mean(dim=(2, 3))", "expected shape (3,)"),
    ("ex1a-check", "def channel_mean(images):\n    return images.mean(dim=(1, 2, 3))", "one mean per image"),
    (
        "ex1a-check",
        "def channel_mean(images):\n    return images.mean()",
        "expected shape (3,), got shape ()",
    ),
    ("ex1b-check", "def channel_std(images):\n    return images.var(dim=(0, 2, 3))", "that is the variance"),
    (
        "ex1b-check",
        "def channel_std(images):\n    return images.std(dim=(2, 3)).mean(dim=0)",
        "the average of each image's own spread",
    ),
    (
        "ex1b-check",
        "def channel_std(images):\n    images -= images.mean()\n    return images.std(dim=(0, 2, 3))",
        "in place",
    ),
    (
        "ex2a-check",
        "def stored_byte(value, mean, std):\n    return int((value * std + mean) * 255)",
        "int() cuts",
    ),
    (
        "ex2a-check",
        "def stored_byte(value, mean, std):\n    return round(value * 255)",
        "Normalize is not undone",
    ),
    (
        "ex2a-check",
        "def stored_byte(value, mean, std):\n    return float(round((value * std + mean) * 255))",
        "expected an int, got the float",
    ),
    (
        "ex2b-check",
        "def to_gray(images):\n    return (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1)",
        "the channel axis is gone",
    ),
    (
        "ex2b-check",
        "def to_gray(images):\n    return images.mean(dim=1, keepdim=True)",
        "all channels weigh the same",
    ),
    (
        "ex2b-check",
        "def to_gray(images):\n    return F.conv2d(images, torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))",
        "which is a convolution routine",
    ),
    (
        "ex2b-check",
        "def to_gray(images):\n    return (images * torch.tensor([0.114, 0.587, 0.299]).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)",
        "reverse order",
    ),
]

SECRETS = {"ex2a-check": [r"\b163\b", r"\b90\b"]}


class TestAsEveryNotebook(checks.NotebookContract):
    """Runs clean, the solutions pass, PLANTED's mistakes are named without SECRETS (last: they
    run in the notebook's kernel)."""
