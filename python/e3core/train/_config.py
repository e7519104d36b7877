"""YAML run configurations: the schema with its defaults, validation with errors that name the
key, and ``key=value`` overrides (``python -m e3core train CONFIG --set training.epochs=5``).

Example::

    >>> config = validate_config({"model": {"name": "schnet", "kwargs": {"type_numbers": [1]}},
    ...                           "training": {"epochs": 3}})
    >>> config["training"]["optimizer"]["lr"], config["data"]["source"]
    (0.001, 'qm9_sample')
    >>> validate_config({"model": {"name": "schnet"}, "training": {"epoch": 3}})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    e3core.train._config.ConfigError: config: training.epoch is not a known key (expected ...)
"""

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NoneType = type(None)
DENSITY_SOURCES = ("water_density", "density")


class ConfigError(ValueError):
    """A configuration that does not follow the schema; the message names the key.

    Example::

        >>> str(ConfigError("config: data.batch_size is 0, expected an int >= 1"))
        'config: data.batch_size is 0, expected an int >= 1'
    """


@dataclass(frozen=True)
class Option:
    """One key of the schema: its default, the accepted types, and optionally the accepted
    values, bounds (``exclusive``: strictly above ``minimum``); ``doc`` is its line in
    docs/training.md's table.

    Example::

        >>> Option(32, (int,), minimum=1, doc="structures per batch").default
        32
    """

    default: Any
    types: tuple[type, ...]
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    exclusive: bool = False
    maximum: float | None = None
    required: bool = False
    doc: str = ""


_NUM = (float, int)
_OPT_NUM = (float, int, NoneType)
_OPT_INT = (int, NoneType)

SCHEMA: dict[str, Any] = {
    "output_dir": Option("runs/run", (str,), doc="where logs, checkpoints and plots go"),
    "seed": Option(0, (int,), doc="seed of torch, numpy and Python (model initialisation)"),
    "device": Option("cpu", (str,), doc="cpu or cuda (cuda:LOCAL_RANK under torchrun)"),
    "dtype": Option("float32", (str,), choices=("float32", "float64"), doc="model and data"),
    "data": {
        "source": Option(
            "qm9_sample",
            (str,),
            choices=("qm9_sample", "qm9", "xyz", "dataset", "water_density", "density"),
            doc="the shipped QM9 slice, full QM9 (qm9pack), an xyz/extxyz file, an .npz "
            "dataset, the shipped water densities, a density .npz (DensityDataset)",
        ),  # fmt: skip
        "path": Option(None, (str, NoneType), doc="file (xyz, dataset) or qm9pack directory"),
        "max_structures": Option(None, _OPT_INT, minimum=1, doc="keep only the first ones"),
        "targets": Option(["U0"], (list,), doc="graph targets kept (and predicted)"),
        "atom_targets": Option([], (list,), doc="atom targets kept (e.g. [forces])"),
        "units": Option({}, (dict,), doc="convert targets to these units ({U0: eV})"),
        "atomization": Option(False, (bool,), doc="QM9: subtract the free-atom energies"),
        "fit_atomrefs": Option(
            [],
            (list,),
            doc="targets from which per-element references fitted on the training "
            "split are subtracted (stored in the checkpoint)",
        ),  # fmt: skip
        "read_kwargs": Option({}, (dict,), doc="more arguments of read_xyz (energy_key...)"),
        "split": {
            "sizes": Option(
                [0.8, 0.1, 0.1],
                (list,),
                doc="train, val[, test]: counts, fractions or null for the rest",
            ),  # fmt: skip
            "seed": Option(0, (int,), doc="seed of the split"),
        },
        "cutoff": Option(
            None, _OPT_NUM, minimum=0, exclusive=True, doc="graph cutoff (default: model r_max)"
        ),
        "batch_size": Option(32, (int,), minimum=1, doc="global batch (all processes)"),
        "val_batch_size": Option(None, _OPT_INT, minimum=1, doc="default: batch_size"),
        "num_workers": Option(0, (int,), minimum=0, doc="DataLoader worker processes"),
        "max_probes": Option(
            None,
            _OPT_INT,
            minimum=1,
            doc="density data: random probes per training structure and batch (default all; "
            "validation and test use all)",
        ),  # fmt: skip
    },
    "model": {
        "name": Option(
            None,
            (str,),
            required=True,
            doc="e3core.models name (schnet, nequip...) or package.module:Class",
        ),  # fmt: skip
        "kwargs": Option({}, (dict,), doc="constructor arguments (the model's config)"),
        "outputs": Option({}, (dict,), doc="target -> model output key, when they differ"),
        "forces_from": Option("energy", (str,), doc="output differentiated for forces"),
    },
    "training": {
        "epochs": Option(100, (int,), minimum=0, doc="epochs to train"),
        "optimizer": {
            "name": Option("adam", (str,), choices=("adam", "adamw"), doc="optimizer"),
            "lr": Option(1e-3, _NUM, minimum=0, exclusive=True, doc="learning rate"),
            "weight_decay": Option(0.0, _NUM, minimum=0, doc="weight decay"),
            "amsgrad": Option(False, (bool,), doc="AMSGrad variant"),
        },
        "scheduler": {
            "name": Option(
                "none",
                (str,),
                choices=("none", "exponential", "plateau"),
                doc="learning-rate schedule, stepped per epoch",
            ),  # fmt: skip
            "gamma": Option(
                0.99, _NUM, minimum=0, exclusive=True, doc="exponential: lr factor per epoch"
            ),
            "factor": Option(
                0.5, _NUM, minimum=0, exclusive=True, maximum=1, doc="plateau: lr factor"
            ),
            "patience": Option(10, (int,), minimum=0, doc="plateau: epochs without progress"),
            "min_lr": Option(0.0, _NUM, minimum=0, doc="plateau: lower bound of lr"),
        },
        "ema_decay": Option(
            None, _OPT_NUM, minimum=0, maximum=1, doc="EMA of the weights (e.g. 0.99)"
        ),
        "clip_grad_norm": Option(
            None, _OPT_NUM, minimum=0, exclusive=True, doc="clip the gradient 2-norm"
        ),
        "compile": Option(
            False, (bool,), doc="compile the training step whole (about a minute once)"
        ),
        "early_stopping": {
            "patience": Option(None, _OPT_INT, minimum=1, doc="epochs without improvement"),
            "min_delta": Option(0.0, _NUM, minimum=0, doc="smallest improvement counted"),
        },
        "loss": Option(
            [{"target": "U0", "weight": 1.0}],
            (list, dict),
            doc="terms {target, weight, kind: mse|mae|huber, per_atom, delta}, or {target: w}",
        ),  # fmt: skip
        "metrics": Option({}, (dict,), doc="{target: [mae, rmse, ...]} (default mae, rmse)"),
        "monitor": Option("val_loss", (str,), doc="best checkpoint, plateau, early stopping"),
    },
    "logging": {
        "progress": Option(True, (bool,), doc="progress bar and per-epoch lines"),
        "tensorboard": Option(True, (bool,), doc="TensorBoard scalars in tensorboard/"),
        "plots": Option(True, (bool,), doc="learning curves and parity plots (PNG)"),
    },
}


def _type_names(types: tuple[type, ...]) -> str:
    names = {float: "a number", int: "an int", str: "a string", bool: "true or false",
             list: "a list", dict: "a mapping", NoneType: "null"}  # fmt: skip
    unique = [names[t] for t in types if not (t is int and float in types)]
    return " or ".join(unique)


def _check_value(key: str, option: Option, value: Any) -> Any:
    if float in option.types and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-3 (no dot) as a string
            value = float(value)
        except ValueError:
            pass
    ok = isinstance(value, option.types) and not (
        isinstance(value, bool) and bool not in option.types
    )
    if not ok:
        raise ConfigError(f"config: {key} is {value!r}, expected {_type_names(option.types)}")
    if option.choices is not None and value not in option.choices:
        raise ConfigError(f"config: {key} is {value!r}, expected one of {list(option.choices)}")
    if value is not None and not isinstance(value, bool):
        low, high = option.minimum, option.maximum
        if low is not None and (value < low or (option.exclusive and value == low)):
            bound = ">" if option.exclusive else ">="
            raise ConfigError(f"config: {key} is {value!r}, expected a value {bound} {low}")
        if high is not None and value > high:
            raise ConfigError(f"config: {key} is {value!r}, expected a value <= {high}")
    if isinstance(value, (list, dict)):
        value = copy.deepcopy(value)
    return value


def _validate(schema: Mapping[str, Any], raw: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"config: {prefix.rstrip('.') or 'the file'} is {raw!r}, expected a mapping"
        )
    for key in raw:
        if key not in schema:
            raise ConfigError(
                f"config: {prefix}{key} is not a known key (expected one of: "
                f"{', '.join(sorted(schema))})"
            )
    out: dict[str, Any] = {}
    for key, entry in schema.items():
        name = f"{prefix}{key}"
        if isinstance(entry, Mapping):
            out[key] = _validate(entry, raw.get(key) or {}, f"{name}.")
        elif key in raw:
            out[key] = _check_value(name, entry, raw[key])
        elif entry.required:
            raise ConfigError(f"config: {name} is missing ({entry.doc})")
        else:
            out[key] = copy.deepcopy(entry.default)
    return out


def _check_model_kwargs(model: dict[str, Any]) -> None:
    """Checks the kwargs of a registry model against its constructor (in place: YAML's string
    floats are converted); classes named as ``package.module:Class`` are checked when built."""
    from e3core import models

    if model["name"] in models.available():
        try:
            model["kwargs"] = models.check_config(model["name"], model["kwargs"], "model.kwargs.")
        except TypeError as error:
            raise ConfigError(f"config: {error}") from None


def validate_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration with every default filled in, or a ``ConfigError`` naming the first
    key that is unknown, missing, of the wrong type or out of range. Also checks the split
    sizes, the loss terms and the metric names.

    Example::

        >>> validate_config({"model": {"name": "x"}, "data": {"batch_size": 0}})
        Traceback (most recent call last):
        ...
        e3core.train._config.ConfigError: config: data.batch_size is 0, expected a value >= 1
    """
    config = _validate(SCHEMA, raw, "")
    sizes = config["data"]["split"]["sizes"]
    if len(sizes) not in (2, 3) or any(
        s is not None and (isinstance(s, bool) or not isinstance(s, (int, float)) or s < 0)
        for s in sizes
    ):
        raise ConfigError(
            f"config: data.split.sizes is {sizes!r}, expected [train, val] or [train, val, test] "
            "as counts, fractions or null (the rest)"
        )
    from e3core.train._loss import Loss
    from e3core.train._metrics import get_metric

    try:
        loss = Loss.from_spec(config["training"]["loss"])
    except (TypeError, ValueError) as error:
        raise ConfigError(f"config: training.loss: {error}") from None
    from e3core.train._metrics import DENSITY_METRICS

    known = set(config["data"]["targets"]) | set(config["data"]["atom_targets"])
    density = config["data"]["source"] in DENSITY_SOURCES
    if density:
        known.add("probe_density")
    for target in loss.targets:
        if target not in known:
            raise ConfigError(
                f"config: training.loss has target {target!r}, which is not in data.targets or "
                f"data.atom_targets ({sorted(known)})"
            )
    for target, names in config["training"]["metrics"].items():
        if not isinstance(names, list):
            raise ConfigError(f"config: training.metrics.{target} is {names!r}, expected a list")
        for name in names:
            if density and name in DENSITY_METRICS:
                continue  # registered for the data's basis when it is loaded
            try:
                get_metric(name)
            except KeyError as error:
                raise ConfigError(f"config: training.metrics.{target}: {error.args[0]}") from None
    _check_model_kwargs(config["model"])
    return config


def set_option(config: dict[str, Any], assignment: str) -> None:
    """Applies one ``key.sub=value`` override in place (the value is read as YAML: numbers,
    booleans, lists, null).

    Example::

        >>> config = {"training": {"epochs": 100}}
        >>> set_option(config, "training.epochs=5"); config
        {'training': {'epochs': 5}}
        >>> set_option(config, "data.split.sizes=[10, 5, null]"); config["data"]
        {'split': {'sizes': [10, 5, None]}}
    """
    import yaml

    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"config: override is {assignment!r}, expected key=value")
    parts = key.strip().split(".")
    node = config
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config: override {assignment!r}: {part} is not a mapping")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(
            f"config: override {assignment!r}: the value is not valid YAML: {_yaml_error(error)}"
        ) from None


def _yaml_error(error: Exception) -> str:
    """A YAML error on one line: what is wrong and where (line and column, from 1)."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Reads a YAML configuration, applies ``overrides`` (``"training.epochs=5"``) and
    validates it (``validate_config``).

    Example::

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "run.yaml")
        ...     _ = open(path, "w").write(
        ...         "model: {name: schnet, kwargs: {type_numbers: [1]}}\\ntraining: {epochs: 2}\\n"
        ...     )
        ...     load_config(path, ["training.epochs=4"])["training"]["epochs"]
        4
    """
    import yaml

    if not os.path.isfile(path):
        raise FileNotFoundError(f"config: {os.fspath(path)!r} is not a file")
    with open(path, encoding="utf-8") as file:
        try:
            raw = yaml.safe_load(file) or {}
        except yaml.YAMLError as error:
            raise ConfigError(
                f"config: {os.fspath(path)!r} is not valid YAML: {_yaml_error(error)}"
            ) from None
        except UnicodeDecodeError as error:
            raise ConfigError(
                f"config: {os.fspath(path)!r} is not UTF-8 text (byte {error.start})"
            ) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"config: {os.fspath(path)!r} holds {type(raw).__name__}, expected a mapping"
        )
    for assignment in overrides:
        set_option(raw, assignment)
    return validate_config(raw)


def schema_table() -> str:
    """The schema as a markdown table (key, default, meaning), as in docs/training.md.

    Example::

        >>> schema_table().splitlines()[2].startswith("| `output_dir`")
        True
    """
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]

    def walk(schema: Mapping[str, Any], prefix: str) -> None:
        for key, entry in schema.items():
            if isinstance(entry, Mapping):
                walk(entry, f"{prefix}{key}.")
            else:
                default = "required" if entry.required else f"`{entry.default!r}`"
                choices = f" ({' / '.join(map(str, entry.choices))})" if entry.choices else ""
                rows.append(f"| `{prefix}{key}` | {default} | {entry.doc}{choices} |")

    walk(SCHEMA, "")
    return "\n".join(rows)
