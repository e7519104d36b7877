"""A tour of e3core.data on the QM9 slice shipped with e3core (no download, a few seconds).

python examples/data_tour.py
"""

import numpy as np
import torch
from e3core import data


def main() -> None:
    """Loads the slice, splits it, fits shifts and scales, and batches it into graphs."""
    qm9 = data.load_qm9_sample()
    print(qm9)
    ch4 = qm9[0]
    print(f"molecule {ch4.id}: numbers {ch4.numbers.tolist()}, U0 = {float(ch4.targets['U0'])} Ha")

    # atomization energies in eV (the QM9 paper's free-atom references subtracted)
    qm9 = data.load_qm9_sample(atomization=True, units={"U0": "eV"})
    print(f"CH4 atomization energy: {float(qm9[0].targets['U0']):.4f} eV")

    train, val, test = data.random_split(qm9, (0.8, 0.1, 0.1), seed=0)
    print(f"splits: {len(train)} / {len(val)} / {len(test)}")

    refs = data.fit_atomrefs(train, "U0")
    print("fitted per-element U0 (eV):", {z: round(e, 3) for z, e in refs.items()})
    residual = train.subtract_atomrefs("U0", refs)
    print(f"after the fit: U0 std {data.mean_std(residual, 'U0')[1]:.3f} eV")
    print(f"average neighbours within 5 A: {data.average_num_neighbors(train, 5.0):.2f}")

    loader = data.DataLoader(residual, batch_size=32, shuffle=True, cutoff=5.0, seed=0)
    batch = next(iter(loader))
    print(batch)
    positions = batch.positions.clone().requires_grad_(True)
    vectors = batch.edge_vectors(positions)
    toy_energy = torch.exp(-vectors.norm(dim=1)).sum()
    (forces,) = torch.autograd.grad(-toy_energy, positions)
    print(f"toy forces from edge vectors: {tuple(forces.shape)}, net force "
          f"{np.abs(forces.sum(0).numpy()).max():.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
