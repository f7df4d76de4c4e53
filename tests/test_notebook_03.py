"""Notebook 03 (CIFAR-10 loading): what it loads, the batches it shows, and its exercises.

The tests read the notebook's own variables from one headless run (the ``executed`` fixture),
so they hold for the 20 bundled images offline and for the full test set alike.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import utils

STEM = "03_cifar10_loading"


@pytest.fixture(scope="module")
def run(executed):
    return executed(STEM)


def printed(nb) -> str:
    return "".join(out.get("text", "") for c in nb.cells if c.cell_type == "code" for out in c.outputs)


def test_it_loads_a_cifar10_test_set_and_says_which(run):
    nb, values = run
    n_images = values["n_images"]
    assert n_images in (20, 10_000)
    text = printed(nb)
    assert text.count("Using the ") == 2  # one line per load, from utils.load_cifar10_test
    assert f"{n_images} images in 10 classes" in text
    assert values["classes"][:4] == ["airplane", "automobile", "bird", "cat"]


def test_the_first_batch_has_the_documented_shapes_types_and_ranges(run):
    nb, values = run
    n_in_batch = min(32, values["n_images"])
    images, images_raw = np.array(values["images"]), np.array(values["images_raw"])
    assert images.shape == images_raw.shape == (n_in_batch, 3, 32, 32)
    assert -1 <= images.min() < -0.9 and 0.9 < images.max() <= 1  # the whole [-1, 1] is used
    assert 0 <= images_raw.min() < 0.1 and 0.9 < images_raw.max() <= 1
    np.testing.assert_allclose(images, 2 * images_raw - 1, atol=1e-6)  # Normalize(0.5, 0.5)
    assert values["labels"] == values["labels_raw"]
    text = printed(nb)
    assert f"images      ({n_in_batch}, 3, 32, 32) torch.float32, values in [{images.min():.3f}" in text
    assert f"labels      ({n_in_batch},) torch.int64" in text


def test_the_stages_table_follows_test_image_0_through_the_pipeline(run):
    _, values = run
    table = values["stages"]
    assert table["index"] == ["stored array", "ToTensor()", "ToTensor() + Normalize"]
    columns = table["columns"]
    rows = [dict(zip(columns, row, strict=True)) for row in table["data"]]
    assert [r["shape"] for r in rows] == [[32, 32, 3], [3, 32, 32], [3, 32, 32]]
    assert [r["dtype"] for r in rows] == ["uint8", "torch.float32", "torch.float32"]
    assert rows[0]["max"] <= 255 and rows[1]["max"] <= 1 and rows[2]["min"] >= -1


def test_the_posts_two_images_are_the_cat_and_the_airplane(run):
    _, values = run
    assert values["post_classes"] == ["cat", "airplane"]
    assert 0 < values["clipped_fraction"] < 1  # naive display loses the negative values


def test_the_class_counts_add_up_to_what_was_loaded(run):
    _, values = run
    table = values["class_counts"]
    assert table["index"] == values["classes"]
    counts = [row[0] for row in table["data"]]
    assert sum(counts) == values["n_images"]
    assert values["balanced"] == (len(set(counts)) == 1)


def test_the_exercise_answers_measure_the_loaded_images(run):
    _, values = run
    assert len(values["channel_mean"]) == len(values["channel_std"]) == 3
    assert all(0 < m < 1 for m in values["channel_mean"]) and all(0 < s < 0.5 for s in values["channel_std"])
    assert 0 <= values["stored_value"] <= 255
    assert np.shape(values["gray_batch"]) == (len(values["labels"]), 1, 32, 32)


def test_the_batch_goes_through_edge_filters_into_feature_maps(run):
    nb, values = run
    images = torch.tensor(values["images"])
    maps = np.array(values["feature_maps"])
    assert maps.shape == (len(images), 3, 32, 32)
    expected = F.conv2d(images, utils.edge_filters(3), padding=1).numpy()
    np.testing.assert_allclose(maps, expected, atol=1e-5)
    assert np.abs(maps).max() > 1  # real edges, not an empty output
    assert f"-> feature maps ({len(images)}, 3, 32, 32)" in printed(nb)
