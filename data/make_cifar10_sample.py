"""Rebuild data/cifar10_test_first20.npz from the foolbox 3.3.4 wheel on PyPI.

The wheel ships the first 20 images of the CIFAR-10 test set as lossless PNG files named
``foolbox/data/cifar10_<index>_<label>.png``. This script reads them straight out of the wheel
(nothing is installed) and writes them as two plain NumPy arrays, which load without pickle:

    images  uint8  (20, 32, 32, 3)   height x width x RGB, as in torchvision's CIFAR10.data
    labels  int64  (20,)

Usage:
    python data/make_cifar10_sample.py                       # downloads the wheel with pip
    python data/make_cifar10_sample.py --wheel foolbox-3.3.4-py3-none-any.whl

The output is byte-for-byte reproducible (no time stamps, no compression), so its SHA-256
must equal the one in data/README.md; the script prints it.
"""

import argparse
import hashlib
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

WHEEL = "foolbox==3.3.4"
PNG_NAME = re.compile(r"foolbox/data/cifar10_(\d+)_(\d)\.png")
OUTPUT = Path(__file__).resolve().parent / "cifar10_test_first20.npz"


def download_wheel(folder: Path) -> Path:
    """Fetch the foolbox wheel from PyPI into ``folder`` without installing it."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(folder)],
        check=True,
    )
    return next(folder.glob("foolbox-*.whl"))


def read_images(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """The CIFAR-10 PNGs of the wheel, in index order, as (images, labels) arrays."""
    found = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            match = PNG_NAME.fullmatch(name)
            if match:
                image = Image.open(io.BytesIO(archive.read(name))).convert("RGB")
                found[int(match[1])] = (np.asarray(image, dtype=np.uint8), int(match[2]))
    if sorted(found) != list(range(20)):
        raise SystemExit(f"{wheel} does not hold CIFAR-10 test images 0..19 (found {sorted(found)})")
    images = np.stack([found[i][0] for i in range(20)])
    labels = np.array([found[i][1] for i in range(20)], dtype=np.int64)
    return images, labels


def write_npz(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write an uncompressed .npz with fixed time stamps, so the bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in (("images", images), ("labels", labels)):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            archive.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue()
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a local foolbox-3.3.4 wheel (default: download it)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        images, labels = read_images(wheel)
    write_npz(args.output, images, labels)
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    print(f"wrote {args.output}: images {images.shape} {images.dtype}, labels {labels.tolist()}")
    print(f"SHA-256 {digest}")


if __name__ == "__main__":
    main()
