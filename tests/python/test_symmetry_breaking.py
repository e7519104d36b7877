"""examples/symmetry_breaking.py: a square-symmetric input cannot become a rectangle; a learned
input feature can, and its symmetry-breaking part is B1g (Y(2, 2) and Y(4, 2) only)."""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import symmetry_breaking as example  # noqa: E402


def test_square_group():
    group = example.square_group()
    assert group.shape == (16, 3, 3)
    for g in group:
        moved = example.SQUARE @ g.T
        assert all(any(torch.allclose(p, q) for q in example.SQUARE) for p in moved)
    rectangle_group = [
        g
        for g in group
        if all(
            any(torch.allclose(p, q) for q in example.RECTANGLE) for p in example.RECTANGLE @ g.T
        )
    ]
    assert len(rectangle_group) == 8  # D2h


def test_symmetric_input_cannot_make_a_rectangle():
    bound = float((example.RECTANGLE - example.SQUARE).pow(2).mean())
    loss, order = example.train(False, steps=60)
    assert loss >= bound * (1 - 1e-4)
    assert float(order.abs().max()) == 0


def test_learned_order_parameter_is_b1g():
    loss, order = example.train(True, steps=120)
    assert loss < 1e-4
    breaking = example.components(example.symmetry_breaking_part(order))
    assert set(breaking) == {"Y(2, 2)", "Y(4, 2)"}, breaking
    invariant = example.components(order - example.symmetry_breaking_part(order), 1e-2)
    allowed = {"Y(0, 0)", "Y(2, 0)", "Y(4, 0)", "Y(4, 4)"}  # A1g of D4h up to l = 4
    assert set(invariant) <= allowed, invariant
