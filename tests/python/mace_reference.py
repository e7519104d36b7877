"""mace-torch models and inputs for the tests that compare e3core's MACE with mace-torch's:
small models built by mace-torch itself with random weights (no downloads), and structures as
both packages' inputs.

Example::

    >>> model = mace_model(2, "4x0e+4x1o", 2)  # doctest: +SKIP
    >>> type(model).__name__  # doctest: +SKIP
    'ScaleShiftMACE'
"""

import ase
import e3nn.o3 as e3nn_o3
import numpy as np
import torch
from e3core import data
from e3core._dtype import default_dtype


def mace_model(
    max_ell: int,
    hidden: str,
    correlation: int | list[int],
    num_interactions: int = 2,
    elements: tuple[int, ...] = (1, 8),
    cls: str = "ScaleShiftMACE",
    first: str = "RealAgnosticInteractionBlock",
    r_max: float = 3.0,
    seed: int = 3,
    **options: object,
) -> torch.nn.Module:
    """A mace-torch model (``cls`` of ``mace.modules``) with random weights, float64."""
    from mace import modules

    kwargs = dict(
        r_max=r_max,
        num_bessel=8,
        num_polynomial_cutoff=5,
        max_ell=max_ell,
        interaction_cls=modules.RealAgnosticResidualInteractionBlock,
        interaction_cls_first=getattr(modules, first),
        num_interactions=num_interactions,
        num_elements=len(elements),
        hidden_irreps=e3nn_o3.Irreps(hidden),
        MLP_irreps=e3nn_o3.Irreps("16x0e"),
        atomic_energies=np.linspace(-2.0, -0.5, len(elements)),
        avg_num_neighbors=4.0,
        atomic_numbers=list(elements),
        correlation=correlation,
        gate=torch.nn.functional.silu,
    )
    if cls == "ScaleShiftMACE":
        kwargs.update(atomic_inter_scale=1.3, atomic_inter_shift=0.1)
    kwargs.update(options)
    with default_dtype(torch.float64):
        torch.manual_seed(seed)
        model = getattr(modules, cls)(**kwargs)
    return model.double()


def structures(elements: tuple[int, ...] = (1, 8)) -> list[ase.Atoms]:
    """Two perturbed water molecules (open) and a periodic triclinic box of the ``elements``."""
    gen = np.random.default_rng(4)
    water = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    positions = np.concatenate([water, water + [2.5, 0.0, 0.5]])
    positions = positions + 0.1 * gen.standard_normal(positions.shape)
    numbers = [8, 1, 1] * 2 if set(elements) >= {1, 8} else [elements[0]] * 6
    molecule = ase.Atoms(numbers=numbers, positions=positions)
    cell = np.array([[4.0, 0.0, 0.0], [0.6, 3.8, 0.0], [-0.4, 0.3, 4.2]])
    box = ase.Atoms(
        numbers=[elements[i % len(elements)] for i in range(7)],
        positions=gen.uniform(0.0, 1.0, (7, 3)) @ cell,
        cell=cell,
        pbc=True,
    )
    return [molecule, box]


def mace_batch(
    atoms: list[ase.Atoms], elements: tuple[int, ...], r_max: float, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """The structures as one mace-torch input dictionary, in ``dtype``."""
    from mace import data as mace_data
    from mace.tools import torch_geometric, utils

    table = utils.AtomicNumberTable(list(elements))
    with default_dtype(dtype):  # mace-torch's data take the default dtype
        graphs = [
            mace_data.AtomicData.from_config(
                mace_data.config_from_atoms(a), z_table=table, cutoff=r_max
            )
            for a in atoms
        ]
    loader = torch_geometric.dataloader.DataLoader(graphs, batch_size=len(graphs))
    return next(iter(loader)).to_dict()


def e3core_batch(atoms: list[ase.Atoms], r_max: float, dtype: torch.dtype) -> dict:
    """The structures as one e3core input dictionary, in ``dtype``."""
    structs = [
        data.Structure(a.positions, a.numbers, cell=a.cell[:] if a.pbc.any() else None, pbc=a.pbc)
        for a in atoms
    ]
    return data.collate(structs, cutoff=r_max, dtype=dtype).as_dict()
