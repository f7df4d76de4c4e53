"""Write the "Further reading" cell, the last cell of every notebook: the sources each notebook
builds on, linked. Run it after editing the lists below, or after a merge that moved cells:

    .venv/bin/python -m tools.further_reading

It replaces the notebook's last cell if that is already a "## Further reading" cell, else it
appends one; running it twice changes nothing.
"""

from __future__ import annotations

import nbformat

from tools.series import notebook_paths

HEADING = "## Further reading"

CS231N = "[CS231n notes, *Convolutional Neural Networks*](https://cs231n.github.io/convolutional-networks/)"
DUMOULIN = (
    "Dumoulin and Visin (2016), [*A guide to convolution arithmetic for deep learning*]"
    "(https://arxiv.org/abs/1603.07285)"
)
CHELLAPILLA = (
    "Chellapilla, Puri and Simard (2006), [*High Performance Convolutional Neural Networks for "
    "Document Processing*](https://hal.inria.fr/inria-00112631), where im2col + matrix multiply "
    "comes from"
)
LAVIN = (
    "Lavin and Gray (2016), [*Fast Algorithms for Convolutional Neural Networks*]"
    "(https://arxiv.org/abs/1509.09308), Winograd's minimal filtering for 3x3 layers"
)


def pytorch(name: str) -> str:
    """A link to the PyTorch documentation page of ``name`` (``torch.nn.Conv2d``)."""
    return f"[`{name}`](https://pytorch.org/docs/stable/generated/{name}.html)"


SOURCES = {
    "01": [
        CS231N + ": the demo this notebook works out, and the parameter counts of its section on "
        "local connectivity and parameter sharing",
        "[*Dive into Deep Learning*, 7.1 From Fully Connected Layers to Convolutions]"
        "(https://d2l.ai/chapter_convolutional-neural-networks/why-conv.html): why convolutions, "
        "and 7.2 on cross-correlation",
        "Goodfellow, Bengio and Courville, [*Deep Learning*, chapter 9](https://www.deeplearningbook.org/contents/convnets.html):"
        " sparse interactions, parameter sharing and equivariance",
        "PyTorch: " + ", ".join(pytorch(n) for n in ("torch.nn.Conv2d", "torch.nn.functional.conv2d")),
    ],
    "02": [
        DUMOULIN + ": the output-size relations, with pictures",
        CS231N + ': the notes\' formula and its "invalid" settings',
        "[*Dive into Deep Learning*, 7.3 Padding and Stride]"
        "(https://d2l.ai/chapter_convolutional-neural-networks/padding-and-strides.html)",
        "PyTorch: " + pytorch("torch.nn.Conv2d") + " (its shape formula and `padding='same'`)",
    ],
    "03": [
        "[The CIFAR-10 dataset](https://www.cs.toronto.edu/~kriz/cifar.html), by Krizhevsky (2009)",
        "[*Dive into Deep Learning*, 7.5 Pooling](https://d2l.ai/chapter_convolutional-neural-networks/pooling.html)",
        DUMOULIN + ": pooling arithmetic",
        "PyTorch: "
        + ", ".join(
            pytorch(n)
            for n in (
                "torch.nn.functional.pad",
                "torch.nn.Conv2d",
                "torch.nn.MaxPool2d",
                "torch.nn.AvgPool2d",
                "torch.utils.data.DataLoader",
            )
        )
        + ", [`torchvision.datasets.CIFAR10`](https://pytorch.org/vision/stable/generated/torchvision.datasets.CIFAR10.html)",
    ],
    "04": [
        CHELLAPILLA,
        "PyTorch: "
        + pytorch("torch.nn.Unfold")
        + " (its example is the unfold + matmul + view recipe of this notebook), "
        + ", ".join(pytorch(n) for n in ("torch.nn.functional.unfold", "torch.nn.Conv2d")),
        "[PyTorch tutorial: channels last memory format]"
        "(https://pytorch.org/tutorials/intermediate/memory_format_tutorial.html)",
        CS231N + ': its section "Implementation as Matrix Multiplication"',
    ],
    "05": [
        CHELLAPILLA,
        LAVIN,
        "Chetlur et al. (2014), [*cuDNN: Efficient Primitives for Deep Learning*]"
        "(https://arxiv.org/abs/1410.0759): implicit GEMM on GPUs",
        "PyTorch: [`torch.utils.benchmark`](https://pytorch.org/docs/stable/benchmark_utils.html), "
        "[`torch.backends.cudnn`](https://pytorch.org/docs/stable/backends.html), "
        "[numerical accuracy](https://pytorch.org/docs/stable/notes/numerical_accuracy.html), "
        "[reproducibility](https://pytorch.org/docs/stable/notes/randomness.html)",
        "[`tracemalloc`](https://docs.python.org/3/library/tracemalloc.html), in Python's documentation",
    ],
    "06": [
        "[CS231n notes, *Backpropagation, Intuitions*](https://cs231n.github.io/optimization-2/)",
        "[*Dive into Deep Learning*, 14.10 Transposed Convolution]"
        "(https://d2l.ai/chapter_computer-vision/transposed-conv.html), and "
        "[7.2](https://d2l.ai/chapter_convolutional-neural-networks/conv-layer.html), where an edge "
        "kernel is learned",
        DUMOULIN + ": transposed convolution arithmetic",
        "Odena, Dumoulin and Olah (2016), [*Deconvolution and Checkerboard Artifacts*]"
        "(https://distill.pub/2016/deconv-checkerboard/)",
        "PyTorch: "
        + ", ".join(
            pytorch(n)
            for n in (
                "torch.nn.functional.fold",
                "torch.nn.ConvTranspose2d",
                "torch.nn.functional.conv_transpose2d",
                "torch.optim.SGD",
            )
        ),
    ],
}


def further_reading(number: str) -> str:
    """The markdown of notebook ``number``'s last cell."""
    return "\n".join([HEADING, "", *(f"- {source}" for source in SOURCES[number])])


def main() -> None:
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        source = further_reading(path.stem[:2])
        last = nb.cells[-1]
        if last.cell_type == "markdown" and last.source.startswith(HEADING):
            last.source = source
        else:
            nb.cells.append(nbformat.v4.new_markdown_cell(source, id=f"further-reading-{path.stem[:2]}"))
        nbformat.write(nb, path)


if __name__ == "__main__":
    main()
