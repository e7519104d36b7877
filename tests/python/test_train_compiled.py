"""The compiled training step (``Trainer(compile=True)``, e3core.train._compiled): the same
losses, predictions and parameter gradients as the eager step for every registered energy
model, one compilation for batches of any size above one, the eager step where the compiler
fails, and the model's data checks inside the compiled graph."""

import types

import numpy as np
import pytest
import torch
from e3core import data, models, train
from e3core.train._config import ConfigError, validate_config

TYPES = [1, 6, 7, 8, 9]
CUTOFF = 3.0


@pytest.fixture(scope="module")
def dataset():
    """QM9 molecules with random energy and force targets (the step's arithmetic is tested,
    not learning)."""
    qm9 = data.load_qm9_sample()[:40]
    rng = np.random.default_rng(0)
    atoms = sum(len(s.numbers) for s in qm9)
    return qm9.with_targets(
        {"U0": None, "energy": rng.normal(size=len(qm9))}, {"forces": rng.normal(size=(atoms, 3))}
    )


def small_model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    options = {
        "nequip": dict(num_layers=2, num_features=8),
        "lnet": dict(num_layers=2, num_features=8, target="energy"),
        "schnet": dict(num_interactions=2, num_features=8),
        "mace": dict(hidden_irreps="4x0e+4x1o", max_ell=2, radial_MLP=[8], MLP_irreps="4x0e"),
    }[name]
    return models.build(name, type_numbers=TYPES, r_max=CUTOFF, **options)


def trainer(name: str, compile: bool, loader=None) -> train.Trainer:
    return train.Trainer(
        small_model(name),
        loader,
        None,
        {"energy": 1.0, "forces": 10.0},
        optimizer={"lr": 1e-3},
        dtype=torch.float64,
        progress=False,
        tensorboard=False,
        plots=False,
        compile=compile,
    )


def assert_same_step(eager: train.Trainer, compiled: train.Trainer, batch: data.Batch) -> None:
    loss_e, parts_e, pred_e = eager.train_step(batch)
    loss_c, parts_c, pred_c = compiled.train_step(batch)
    torch.testing.assert_close(loss_c, loss_e, rtol=1e-10, atol=0)
    assert [c for _, c in parts_c] == [c for _, c in parts_e]
    for name in pred_e:
        torch.testing.assert_close(pred_c[name], pred_e[name].detach(), rtol=1e-10, atol=1e-12)
    params = zip(eager.model.named_parameters(), compiled.model.parameters(), strict=True)
    for (name, p_e), p_c in params:
        scale = p_e.grad.abs().max().clamp_min(1e-300)
        error = float((p_c.grad - p_e.grad).abs().max() / scale)
        assert error < 1e-10, f"{name}: gradient differs by {error:.1e} (relative)"
        torch.testing.assert_close(p_c, p_e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["nequip", "lnet", "schnet", "mace"])
def test_compiled_step_equals_eager(name, dataset):
    """Two optimizer steps on batches of 8 and 5 molecules: loss, predictions, gradients and
    updated parameters equal the eager step's (float64); the second batch, of other sizes,
    runs the first one's compiled graph. Every registered energy model (gate_points and
    charge_e3net predict densities, trained on other targets)."""
    eager, compiled = trainer(name, False), trainer(name, True)
    for start, stop in [(0, 8), (8, 13)]:
        assert_same_step(eager, compiled, data.collate(dataset[start:stop], cutoff=CUTOFF))
    assert [len(t) for t in compiled._compiled.traces.values()] == [1]
    assert all(t.shape_env is not None for t in next(iter(compiled._compiled.traces.values())))


def test_one_structure_batch_is_its_own_kind(dataset):
    """A batch of one molecule (sizes of 1, which a trace takes as constants) gets its own
    graph, or the eager step where the compiler fails, with the same results; later batches of
    several molecules still run the first graph."""
    eager, compiled = trainer("nequip", False), trainer("nequip", True)
    assert_same_step(eager, compiled, data.collate(dataset[0:8], cutoff=CUTOFF))
    with pytest.warns() as caught:
        assert_same_step(eager, compiled, data.collate(dataset[8:9], cutoff=CUTOFF))
    assert all("run eagerly" in str(w.message) for w in caught if "Trainer" in str(w.message))
    assert_same_step(eager, compiled, data.collate(dataset[9:25], cutoff=CUTOFF))
    assert sorted(len(t) for t in compiled._compiled.traces.values()) == [1, 1]


def test_compiled_fit_equals_eager_fit(dataset):
    """Two epochs of fit() through the loader (shuffled, a last short batch): the same
    parameters either way."""
    runs = []
    for compile in (False, True):
        loader = data.DataLoader(dataset[:20], 8, shuffle=True, cutoff=CUTOFF, seed=0)
        t = trainer("nequip", compile, loader)
        t.fit(2)
        runs.append({k: v.detach().clone() for k, v in t.model.state_dict().items()})
    for key in runs[0]:
        torch.testing.assert_close(runs[1][key], runs[0][key], rtol=1e-9, atol=1e-12)


def test_unknown_element_is_caught_in_the_compiled_graph(dataset):
    """The model's check of the atomic numbers runs inside the compiled graph: an element the
    model does not know is an error naming its type numbers, not a wrong index."""
    compiled = trainer("nequip", True)
    compiled.train_step(data.collate(dataset[0:8], cutoff=CUTOFF))
    batch = data.collate(dataset[8:13], cutoff=CUTOFF)
    batch.numbers[3] = 3
    with pytest.raises(RuntimeError, match=r"not one of type_numbers \[1, 6, 7, 8, 9\]"):
        compiled.train_step(batch)


def test_compile_option_is_checked():
    with pytest.raises(TypeError, match="compile is 'yes', expected True or False"):
        trainer("schnet", "yes")
    model = {"name": "schnet", "kwargs": {"type_numbers": [1, 6]}}
    with pytest.raises(ConfigError, match="training.compile is 'yes'"):
        validate_config({"model": model, "training": {"compile": "yes"}})
    assert validate_config({"model": model, "training": {"compile": True}})["training"]["compile"]


def test_state_follows_the_model_between_steps():
    """The compiled step reads the model's parameters and buffers where its last walk of the
    tree found them; assignments, conversions, freezing and deletions since are seen."""
    from e3core.train._compiled import CompiledStep

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    model.register_buffer("scale", torch.ones(2))
    step = CompiledStep(types.SimpleNamespace(model=model))  # all it reads of a Trainer

    def state() -> dict[str, tuple[bool, torch.Tensor]]:
        names, params, fixed_names, fixed = step._state()
        trained = {n: (True, t) for n, t in zip(names, params, strict=True)}
        return trained | {n: (False, t) for n, t in zip(fixed_names, fixed, strict=True)}

    assert list(state()) == ["0.weight", "0.bias", "1.weight", "1.bias", "scale"]
    assert state()["0.weight"] == (True, model[0].weight)
    model.scale = torch.full((2,), 3.0)  # a buffer assigned
    assert state()["scale"][1] is model.scale
    model[1].weight = torch.nn.Parameter(torch.zeros(1, 4))  # a parameter assigned
    assert state()["1.weight"][1] is model[1].weight
    model.to(torch.float64)  # buffers replaced without registration
    assert state()["scale"][1].dtype == torch.float64
    model[0].bias.requires_grad_(False)  # frozen: fixed state, no gradient
    assert state()["0.bias"] == (False, model[0].bias)
    del model[1].bias
    assert "1.bias" not in state()
    model.extra = torch.nn.Linear(1, 1)  # a submodule added
    assert "extra.weight" in state()
