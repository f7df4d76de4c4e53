"""The bundled CIFAR-10 sample and the loader that falls back to it offline."""

import hashlib
import io
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import torch
import torchvision

import utils

SAMPLE_SHA256 = "9d1252b7fd56a5a1bda60bc60054630a2ce185f345d8c449d1bec07036111050"
LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]


def test_the_sample_holds_the_first_20_test_images():
    sample = utils.CIFAR10Sample()
    assert len(sample) == 20
    assert sample.data.dtype == np.uint8 and sample.data.shape == (20, 32, 32, 3)
    assert sample.targets == LABELS
    assert sample.classes[sample.targets[0]] == "cat"  # notebook 04's image 0
    assert sample.classes[sample.targets[10]] == "airplane"  # notebook 06's second image
    assert hashlib.sha256(utils.SAMPLE_PATH.read_bytes()).hexdigest() == SAMPLE_SHA256  # data/README.md


def test_the_sample_loads_without_pickle():
    with np.load(utils.SAMPLE_PATH, allow_pickle=False) as arrays:
        assert sorted(arrays.files) == ["images", "labels"]


def test_a_corrupted_sample_is_refused(tmp_path):
    broken = tmp_path / "sample.npz"
    data = bytearray(utils.SAMPLE_PATH.read_bytes())
    data[5000] ^= 0xFF  # flip one byte inside the pixels: the zip's CRC-32 no longer matches
    broken.write_bytes(bytes(data))
    with pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"):
        utils.CIFAR10Sample(broken)


def test_the_sample_takes_the_same_transform_as_torchvision():
    raw = utils.CIFAR10Sample(transform=utils.cifar10_transform(normalize=False))
    normalized = utils.CIFAR10Sample(transform=utils.cifar10_transform(normalize=True))
    image, label = raw[10]
    assert label == 0 and image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy() * 255, raw.data[10], atol=1e-4)
    assert torch.allclose(normalized[10][0], image * 2 - 1, atol=1e-6)
    assert isinstance(utils.CIFAR10Sample()[0][0], __import__("PIL").Image.Image)


@pytest.mark.parametrize("normalize", [False, True])
def test_sample_batch_is_the_sample_through_the_torchvision_transform_bit_for_bit(normalize):
    dataset = utils.CIFAR10Sample(transform=utils.cifar10_transform(normalize=normalize))
    expected = torch.stack([dataset[i][0] for i in range(len(dataset))])  # (20, 3, 32, 32)
    batch = utils.sample_batch(normalize=normalize)
    assert batch.shape == (20, 3, 32, 32) and batch.dtype == torch.float32
    assert torch.equal(batch, expected)


def test_sample_batch_needs_no_torchvision():
    code = "import utils, sys; utils.sample_batch(); assert 'torchvision' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_offline_the_loader_falls_back_to_the_sample_within_two_seconds(tmp_path, monkeypatch, capsys):
    # 10.255.255.1 is not routed: a connection to it hangs instead of failing, the worst case.
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", "https://10.255.255.1/cifar-10-python.tar.gz")
    start = time.perf_counter()
    dataset = utils.load_cifar10_test(root=tmp_path)
    assert time.perf_counter() - start < 2.0
    assert isinstance(dataset, utils.CIFAR10Sample) and len(dataset) == 20
    assert "Using the 20 test images in data/cifar10_test_first20.npz" in capsys.readouterr().out


def test_an_unknown_host_also_falls_back_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", "https://no-such-host.invalid/cifar.tar.gz")
    start = time.perf_counter()
    assert len(utils.load_cifar10_test(root=tmp_path)) == 20
    assert time.perf_counter() - start < 2.0


def test_download_false_never_touches_the_network(tmp_path, monkeypatch):
    monkeypatch.setattr(utils, "urlopen", lambda *a, **k: pytest.fail("must not probe the network"))
    assert len(utils.load_cifar10_test(root=tmp_path, download=False)) == 20


class FakeFullSet(torch.utils.data.Dataset):
    """Stands in for torchvision's CIFAR10, which needs the real 160 MB files."""

    url = torchvision.datasets.CIFAR10.url

    def __init__(self, root, train, transform, download=False):
        if download is False and not (root / "present").exists():
            raise RuntimeError("Dataset not found or corrupted.")
        if download:
            (root / "present").write_text("downloaded")

    def __len__(self):
        return 10000


def test_the_full_set_on_disk_is_preferred(tmp_path, monkeypatch, capsys):
    (tmp_path / "present").write_text("")
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeFullSet)
    monkeypatch.setattr(utils, "urlopen", lambda *a, **k: pytest.fail("must not probe the network"))
    assert isinstance(utils.load_cifar10_test(root=tmp_path), FakeFullSet)
    assert "full CIFAR-10 test set (10000 images) found in" in capsys.readouterr().out


def test_with_a_network_the_full_set_is_downloaded(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeFullSet)
    monkeypatch.setattr(utils, "urlopen", lambda request, timeout: io.BytesIO())  # the server answers
    assert isinstance(utils.load_cifar10_test(root=tmp_path), FakeFullSet)
    assert "downloaded to" in capsys.readouterr().out


def test_a_failed_download_falls_back_to_the_sample(tmp_path, monkeypatch, capsys):
    class BrokenDownload(FakeFullSet):
        def __init__(self, root, train, transform, download=False):
            if download:
                raise OSError("connection reset")
            raise RuntimeError("Dataset not found or corrupted.")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", BrokenDownload)
    monkeypatch.setattr(utils, "urlopen", lambda request, timeout: io.BytesIO())  # the server answers
    assert isinstance(utils.load_cifar10_test(root=tmp_path), utils.CIFAR10Sample)
    out = capsys.readouterr().out
    assert "Could not download CIFAR-10 (connection reset)" in out and "data/cifar10_test_first20.npz" in out


def test_the_script_rebuilds_the_sample_byte_for_byte(tmp_path):
    """data/make_cifar10_sample.py, run on the foolbox wheel from PyPI, gives the same file."""
    wheels = tmp_path / "wheels"
    download = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "foolbox==3.3.4",
            "-d",
            str(wheels),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if download.returncode != 0:
        pytest.skip(f"PyPI is out of reach, cannot fetch the foolbox wheel: {download.stderr[-200:]}")
    wheel = next(wheels.glob("foolbox-*.whl"))
    out = tmp_path / "rebuilt.npz"
    script = utils.DATA_DIR / "make_cifar10_sample.py"
    subprocess.run([sys.executable, script, "--wheel", wheel, "--output", out], check=True, timeout=60)
    assert out.read_bytes() == utils.SAMPLE_PATH.read_bytes()
    shutil.rmtree(wheels)


def test_unnormalize_inverts_normalize():
    image = torch.rand(3, 4, 5)
    normalized = utils.cifar10_transform(normalize=True).transforms[1](image)
    assert normalized.min() < 0  # in [-1, 1]
    np.testing.assert_allclose(utils.unnormalize(normalized), image.permute(1, 2, 0).numpy(), atol=1e-6)
    assert utils.unnormalize(normalized).shape == (4, 5, 3)
    with pytest.raises(ValueError, match=r"image must be 3-D \(C, H, W\), got shape \(1, 3, 4, 5\)"):
        utils.unnormalize(image[None])
