"""utils.check and utils.check_avoids: every right answer gets a tick, every wrong one a plain
sentence that says what is wrong without the answer, and no answer can fake its comparison."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import utils

# --- check: the feedback of the exercises -----------------------------------------------------


def test_check_prints_a_tick_for_every_equivalent_right_answer(capsys):
    right = [
        ("an int", 28, 28),
        ("a NumPy integer", np.int64(28), 28),
        ("a 0-d integer tensor", torch.tensor(28), 28),
        ("a float within atol", 0.1 + 0.2, 0.3),
        ("an int for a float", 3, 3.0),
        ("float32 for float64", np.float32(0.1), 0.1),
        ("a 0-d tensor for a float", torch.tensor(0.25, requires_grad=True), 0.25),
        ("a list for a tuple of ints", [1, 2, 5, 5], (1, 2, 5, 5)),
        ("a torch.Size", torch.Size([1, 2]), (1, 2)),
        ("a 1-d array for a tuple", np.array([3, 4]), (3, 4)),
        ("a tensor for an array", torch.ones(2, 2, requires_grad=True), np.ones((2, 2))),
        ("float32 values for float64 ones", np.full(3, 0.1, dtype=np.float32), np.full(3, 0.1)),
        ("a nested list for an array", [[1, 2], [3, 4]], np.array([[1.0, 2.0], [3.0, 4.0]])),
        ("a tuple for a list", (7, 8), [7, 8]),
        ("an empty list", [], []),
        ("a bool", True, True),
    ]
    for what, got, expected in right:
        utils.check(what, got, expected, atol=1e-6)
    assert capsys.readouterr().out.splitlines() == [f"\N{CHECK MARK} {what}: correct" for what, _, _ in right]


class AlwaysEqual(int):
    """What a student could hand in to fool a bare ``==``."""

    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class MeansNothing(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True


CHECK_FAILURES = {
    # name: (got, expected, atol, a pattern of the message)
    "wrong int": (27, 28, 0.0, r"^output: not the right value$"),
    "forgotten return": (None, 28, 0.0, r"expected an integer, got None \(no value: does a function end"),
    "a float for an int": (3.0, 3, 0.0, r"expected an integer, got the float 3\.0: .*int\(\)"),
    "a bool for an int": (True, 1, 0.0, r"expected an integer, got the bool True$"),
    "a string for an int": ("28", 28, 0.0, r"expected an integer, got the string '28'$"),
    "an array for an int": (np.arange(3), 28, 0.0, r"expected an integer, got an array of shape \(3,\)$"),
    "a tensor for an int": (torch.ones(2, 2), 28, 0.0, r"got an array of shape \(2, 2\)$"),
    "wrong float": (0.5, 0.25, 1e-6, r"^output: not the right value$"),
    "nan for a float": (float("nan"), 0.25, 1e-6, r"not the right value"),
    "a string for a float": ("0.25", 0.25, 1e-6, r"expected a number, got the string '0.25'$"),
    "an int subclass with its own ==": (AlwaysEqual(5), 28, 0.0, r"class AlwaysEqual, which defines its own"),
    "a tensor subclass": (
        torch.ones(2).as_subclass(MeansNothing),
        np.ones(2),
        0,
        r"class MeansNothing, which",
    ),
    "an always-equal item": ([1, AlwaysEqual(2)], (1, 5), 0.0, r"item 1 \(counting from 0\): got an object"),
    "tuple() of a forgotten return": ((), (1, 2), 0.0, r"expected 2 items, got 0$"),
    "None for a tuple": (None, (1, 2), 0.0, r"expected a tuple of 2 items, got None"),
    "wrong item": ((1, 3), (1, 2), 0.0, r"item 1 \(counting from 0\): not the right value$"),
    "a float item": (
        (1, 2.0),
        (1, 2),
        0.0,
        r"item 1 \(counting from 0\): expected an integer, got the float",
    ),
    "wrong shape": (
        np.zeros((2, 3)),
        np.zeros((3, 3)),
        0.0,
        r"expected an array of shape \(3, 3\), got shape \(2, 3\)$",
    ),
    "axes in another order": (
        np.zeros((3, 2)),
        np.zeros((2, 3)),
        0.0,
        r"another order: check the order of the axes",
    ),
    "no array": (None, np.zeros(3), 0.0, r"expected an array of numbers, got None"),
    "text for an array": ("abc", np.zeros(3), 0.0, r"expected an array of numbers, got the string 'abc'"),
    "ragged list": ([[1, 2], [3]], np.zeros((2, 2)), 0.0, r"expected an array of numbers, got a list of 2"),
    "wrong values": (
        np.arange(4.0),
        np.array([0.0, 1.0, 9.0, 9.0]),
        0.5,
        r"2 of 4 values are wrong .*index \(2,\)$",
    ),
    "nan values": (np.full(3, np.nan), np.zeros(3), 0.5, r"3 of 3 values are wrong"),
    "a number for a bool": (1, True, 0.0, r"expected True or False, got the int 1"),
}


@pytest.mark.parametrize("name", CHECK_FAILURES)
def test_check_says_what_is_wrong_in_a_plain_sentence_without_the_answer(name):
    got, expected, atol, message = CHECK_FAILURES[name]
    with pytest.raises(AssertionError, match=message) as failure:
        utils.check("output", got, expected, atol=atol)
    text = str(failure.value)
    assert text.startswith("output: ")
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        assert not re.search(rf"(?<![\d.]){re.escape(str(expected))}(?![\d])", text.replace(repr(got), ""))


def test_check_names_a_known_mistake_or_gives_the_hint():
    mistakes = [(6, "that is the total padding: padding is added on each side")]
    with pytest.raises(AssertionError) as failure:
        utils.check("padding", 6, 3, hint="Solve the formula for p", mistakes=mistakes)
    assert str(failure.value) == "padding: that is the total padding: padding is added on each side"
    with pytest.raises(AssertionError) as failure:
        utils.check("padding", 5, 3, hint="Solve the formula for p", mistakes=mistakes)
    assert str(failure.value) == "padding: not the right value. Solve the formula for p"
    with pytest.raises(AssertionError, match=r"^shape: that is the shape without padding$"):
        utils.check(
            "shape",
            [1, 2, 1, 1],
            (1, 2, 3, 3),
            mistakes=[((1, 2, 1, 1), "that is the shape without padding")],
        )


def test_check_compares_plain_values_and_never_calls_the_answers_own_eq():
    calls = []

    class Spy(int):
        def __eq__(self, other):
            calls.append(other)
            return True

        __hash__ = int.__hash__

    with pytest.raises(AssertionError, match="defines its own comparison"):
        utils.check("size", Spy(28), 28)
    assert calls == []  # never asked: the expected value never reached the answer's code


def test_check_refuses_an_expected_value_it_cannot_compare():
    with pytest.raises(TypeError, match="expected must be a number, string, tuple, list or array"):
        utils.check("output", object(), object())


def conv_helper(x):
    return F.conv2d(x, x)


def test_check_avoids_reads_the_code_of_the_function_and_of_its_helpers(capsys):
    def honest(x):
        return F.unfold(x, 3)

    def nested(x):
        return [F.conv2d(row, row) for row in x]

    def uses_a_helper(x):
        return conv_helper(x) + 1

    utils.check_avoids(honest, ["conv2d"])
    assert capsys.readouterr().out == "\N{CHECK MARK} honest does not use conv2d\n"
    with pytest.raises(AssertionError, match=r"^nested uses conv2d, which this exercise asks you not to use"):
        utils.check_avoids(nested, ["conv2d", "Conv2d"])
    with pytest.raises(AssertionError, match=r"^uses_a_helper uses conv2d"):
        utils.check_avoids(uses_a_helper, ["conv2d"])
    with pytest.raises(AssertionError, match=r"expected a function written with def, got None"):
        utils.check_avoids(None, ["conv2d"])
