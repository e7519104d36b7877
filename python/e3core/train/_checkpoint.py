"""Checkpoints: atomic writes, random-number-generator states, and models rebuilt from a
checkpoint's name, configuration and weights.

A checkpoint is a dict saved with ``torch.save`` and loadable with ``weights_only=True``:
``{"format": "e3core-checkpoint", "version": 1, "e3core_version", "epoch", "model": {"name",
"config", "state_dict"}, "trainer": {...}, "extra": {...}}``. ``model.state_dict`` holds the
weights to use (the EMA weights when the run kept an average); ``trainer`` holds what resuming
needs (raw weights, optimizer, scheduler, EMA, early stopping, history, RNG and sampler
states).

Example::

    >>> import os, tempfile, torch
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "last.pt")
    ...     atomic_save({"epoch": 3}, path)
    ...     load_checkpoint(path)["epoch"]
    3
"""

import hashlib
import importlib
import io
import os
import random
import re
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

CHECKPOINT_FORMAT = "e3core-checkpoint"
CHECKPOINT_VERSION = 1
CHECKSUM_RECORD = "e3core_checksum"
# Temporary files of atomic_write: ".NAME.PID.RANDOM.tmp" (".NAME.RANDOM.tmp" before 0.x).
_TEMPORARY = re.compile(r"^\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?[A-Za-z0-9_]+\.tmp$")
# A temporary without a process id (or whose process cannot be checked) is stale after this.
STALE_AFTER_S = 3600.0


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: truncated, empty, not a checkpoint, or whose
    checksum does not match its content (the message names the file).

    Example::

        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile(suffix=".pt") as empty:
        ...     try:
        ...         load_checkpoint(empty.name)
        ...     except CheckpointError as error:
        ...         print("truncated, empty or not a checkpoint" in str(error))
        True
    """


def archive_checksum(archive: zipfile.ZipFile, skip: Callable[[str], bool]) -> str:
    """The sha256 (hex) of a zip archive's records other than those ``skip`` selects (given
    the full record name): for each record in the order of its UTF-8 name without the archive's
    top folder (``archive/data/0`` -> ``data/0``, the names torch's C++ reader gives), that
    name, a zero byte, the record's size as 8 little-endian bytes and its bytes. Checkpoints and
    exported models store it (the C++ runtime computes the same).

    Example::

        >>> import io
        >>> buffer = io.BytesIO()
        >>> with zipfile.ZipFile(buffer, "w") as z:
        ...     z.writestr("a", b"x")
        >>> with zipfile.ZipFile(buffer) as z:
        ...     archive_checksum(z, lambda name: False)[:12]
        'c4f76f5106fd'
    """
    digest = hashlib.sha256()
    names = {n.split("/", 1)[-1]: n for n in archive.namelist() if not skip(n)}
    for relative in sorted(names, key=lambda n: n.encode()):
        info = archive.getinfo(names[relative])
        digest.update(relative.encode() + b"\0" + info.file_size.to_bytes(8, "little"))
        with archive.open(info) as record:
            for block in iter(lambda: record.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temporaries(
    directory: str | os.PathLike, name: str | None = None, stale_after_s: float = STALE_AFTER_S
) -> list[Path]:
    """Removes the temporary files that ``atomic_write`` left in ``directory`` when its process
    was killed (``.NAME.PID.RANDOM.tmp``; only those of the file ``name`` if given): those whose
    process is gone, and those older than ``stale_after_s`` seconds. Returns the removed paths.

    Example::

        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = open(os.path.join(tmp, ".last.pt.999999999.abc.tmp"), "w").close()
        ...     [p.name for p in remove_stale_temporaries(tmp)]
        ['.last.pt.999999999.abc.tmp']
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or (name is not None and match["name"] != name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            pid = match["pid"]
            gone = pid is not None and int(pid) != os.getpid() and not _process_alive(int(pid))
            if gone or now - entry.stat(follow_symlinks=False).st_mtime > stale_after_s:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[IO[bytes]], None],
    previous: str | os.PathLike | None = None,
) -> None:
    """Writes a file so that it is either complete or untouched: ``write(file)`` fills a
    temporary file in the same directory, which is flushed, fsync'ed and renamed over ``path``
    (``os.replace``, atomic on POSIX); if ``write`` fails or the process dies, ``path`` keeps
    its previous content and the temporary file is removed (or left as ``.NAME.PID.*.tmp``
    after a kill, which the next write of ``path`` removes: ``remove_stale_temporaries``).
    ``previous``: a path that keeps the file's former content (``last.prev.pt``), replaced
    atomically too.

    Example::

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     atomic_write(os.path.join(tmp, "a.txt"), lambda f: f.write(b"hello"))
        ...     open(os.path.join(tmp, "a.txt")).read()
        'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)
    if previous is not None:
        remove_stale_temporaries(path.parent, Path(previous).name)
    prefix = f".{path.name}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        if previous is not None and path.is_file():
            _keep_previous(path, Path(previous))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)


def _keep_previous(path: Path, previous: Path) -> None:
    # A hard link (no copy) renamed over ``previous``: ``path`` exists throughout.
    fd, tmp = tempfile.mkstemp(dir=previous.parent, prefix=f".{previous.name}.{os.getpid()}.",
                               suffix=".tmp")  # fmt: skip
    os.close(fd)
    try:
        os.unlink(tmp)
        try:
            os.link(path, tmp)
        except OSError:  # a file system without hard links
            with open(path, "rb") as source, open(tmp, "wb") as copy:
                while block := source.read(1 << 20):
                    copy.write(block)
                copy.flush()
                os.fsync(copy.fileno())
        os.replace(tmp, previous)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _with_checksum(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with zipfile.ZipFile(buffer, "a") as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        checksum = archive_checksum(archive, lambda name: False)
        archive.writestr(f"{root}/{CHECKSUM_RECORD}", checksum)
    return buffer.getvalue()


def atomic_save(
    obj: Any, path: str | os.PathLike, previous: str | os.PathLike | None = None
) -> None:
    """``torch.save(obj, path)`` through ``atomic_write``, with a record ``e3core_checksum``
    added to the archive: the sha256 of its other records (``archive_checksum``), which
    ``load_checkpoint`` verifies. ``previous`` keeps the former file (``atomic_write``).

    Example::

        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     atomic_save({"x": torch.ones(1)}, os.path.join(tmp, "c.pt"))
    """
    data = _with_checksum(obj)
    atomic_write(path, lambda file: file.write(data), previous)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint written by ``atomic_save`` (``torch.load(..., weights_only=True)``: no
    arbitrary objects are unpickled).

    Example::

        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     atomic_save({"epoch": 1}, os.path.join(tmp, "c.pt"))
        ...     load_checkpoint(os.path.join(tmp, "c.pt"))
        {'epoch': 1}
    """
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} is a directory, expected a file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {os.fspath(path)!r} does not exist")
    verify_checkpoint(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"checkpoint {os.fspath(path)!r} cannot be read (truncated or not a checkpoint; "
            f"expected a file written by e3core's training): {type(error).__name__}: "
            f"{_first_line(error)}"
        ) from None


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:200] if lines else ""


def verify_checkpoint(path: str | os.PathLike) -> None:
    """Raises ``CheckpointError`` (naming the file) unless ``path`` is a zip archive whose
    records are intact and, when it holds an ``e3core_checksum`` record (checkpoints written by
    ``atomic_save``), match that checksum. Checkpoints written without a checksum pass.

    Example::

        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     atomic_save({"epoch": 1}, os.path.join(tmp, "c.pt"))
        ...     verify_checkpoint(os.path.join(tmp, "c.pt"))
    """
    where = os.fspath(path)
    expected = "expected a file written by e3core's training"
    try:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(
                f"checkpoint {where!r} is truncated, empty or not a checkpoint (not a zip "
                f"archive; {expected})"
            )
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            record = next((n for n in names if n.split("/", 1)[-1] == CHECKSUM_RECORD), None)
            if record is None:
                bad = archive.testzip()
                if bad is not None:
                    raise CheckpointError(
                        f"checkpoint {where!r} is corrupted: record {bad!r} fails its CRC"
                    )
                return
            stored = archive.read(record).decode("ascii", "replace").strip()
            actual = archive_checksum(archive, lambda name: name == record)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"checkpoint {where!r} is corrupted ({expected}): {type(error).__name__}: "
            f"{_first_line(error)}"
        ) from None
    if stored != actual:
        raise CheckpointError(
            f"checkpoint {where!r} is corrupted: its content does not match its sha256 checksum "
            f"(stored {stored[:16]}..., computed {actual[:16]}...)"
        )


def rng_state() -> dict[str, Any]:
    """The states of torch's, numpy's and Python's global generators (checkpoint-safe types).

    Example::

        >>> state = rng_state(); a = torch.rand(1)
        >>> set_rng_state(state); bool(torch.rand(1) == a)
        True
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restores ``rng_state()``'s result.

    Example::

        >>> state = rng_state(); a = np.random.rand()
        >>> set_rng_state(state); np.random.rand() == a
        True
    """
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def build_model(name: str, config: Mapping[str, Any], saved: bool = False) -> torch.nn.Module:
    """The model ``name`` built with keyword arguments ``config``: a name of e3core's registry
    (``e3core.models.build(name, **config)``: ``"schnet"``, ``"nequip"``...) or
    ``"package.module:Class"`` for a model class of your own (which follows e3core's model
    interface: ``forward(data) -> dict``, ``config``, ``r_max``). ``saved``: ``config`` comes
    from a checkpoint, whose missing options take the values of the version that wrote it
    (``e3core.models.upgrade_config``).

    Example::

        >>> build_model("torch.nn:Identity", {})
        Identity()
    """
    if ":" in name:
        module_name, _, class_name = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"model name is {name!r}, which cannot be imported: {error}") from None
        return cls(**config)
    try:
        models = importlib.import_module("e3core.models")
    except ImportError as error:
        raise ImportError(
            f"model name is {name!r}, a name of e3core's model registry, but e3core.models "
            f"cannot be imported ({error}); install an e3core with its models, or give "
            "'package.module:Class'"
        ) from None
    try:
        return models.build(
            name, **(models.upgrade_config(name, dict(config)) if saved else config)
        )
    except KeyError as error:  # an unknown name
        raise ValueError(error.args[0] if error.args else str(error)) from None


def check_same_model(
    checkpoint: Mapping[str, Any], model: torch.nn.Module, path: str | os.PathLike = "checkpoint"
) -> None:
    """Raises ValueError unless ``model`` is the registered model the checkpoint was saved
    from, with the same configuration once the checkpoint's is upgraded
    (``e3core.models.upgrade_config``): weights loaded into another configuration would load
    without error and compute something else (an LNet saved with the cosine basis, rebuilt with
    the smooth one). Models outside the registry are not checked.

    Example::

        >>> from e3core import models
        >>> lnet = models.build("lnet", type_numbers=[1, 8], lmax=0, num_features=8)
        >>> ckpt = {"model": {"name": "lnet", "config": {**lnet.config, "radial_basis": "cosine"}}}
        >>> check_same_model(ckpt, lnet)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: 'checkpoint' holds an lnet with radial_basis='cosine', but the model ...
    """
    entry = checkpoint.get("model") or {}
    name, saved = entry.get("name"), entry.get("config")
    if name is None or saved is None or getattr(model, "name", None) != name:
        return
    models = importlib.import_module("e3core.models")
    if name not in models.available():
        return
    saved = models.upgrade_config(name, dict(saved))
    current = dict(getattr(model, "config", {}))
    differ = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if differ:
        found = ", ".join(f"{k}={saved.get(k)!r}" for k in differ)
        built = ", ".join(f"{k}={current.get(k)!r}" for k in differ)
        raise ValueError(
            f"{os.fspath(path)!r} holds an {name} with {found}, but the model to resume has "
            f"{built}; set these in the configuration's model section"
        )


def model_from_checkpoint(
    checkpoint: Mapping[str, Any] | str | os.PathLike, model: torch.nn.Module | None = None
) -> torch.nn.Module:
    """The model of a checkpoint (its ``model.state_dict``: EMA weights when the run averaged
    them), in eval mode. The model is rebuilt from the stored name and configuration
    (``build_model``) unless an instance of the same architecture is given.

    Example::

        >>> layer = torch.nn.Linear(2, 1)
        >>> ckpt = {"model": {"name": "torch.nn:Linear",
        ...                   "config": {"in_features": 2, "out_features": 1},
        ...                   "state_dict": layer.state_dict()}}
        >>> bool(torch.equal(model_from_checkpoint(ckpt).weight, layer.weight))
        True
    """
    if not isinstance(checkpoint, Mapping):
        checkpoint = load_checkpoint(checkpoint)
    entry = checkpoint["model"]
    if model is None:
        if entry.get("name") is None:
            raise ValueError(
                "model_from_checkpoint: the checkpoint names no model; pass model=an instance"
            )
        model = build_model(entry["name"], entry.get("config") or {}, saved=True)
    dtype = checkpoint.get("extra", {}).get("dtype")
    if dtype is not None:
        model = model.to(getattr(torch, dtype))
    model.load_state_dict(entry["state_dict"])
    return model.eval()
