"""O(3) algebra with e3nn's names and conventions: irreps, Wigner matrices, rotations,
spherical harmonics and norms.

Example::

    >>> from e3core import o3
    >>> o3.Irreps("2x1o").dim
    6
"""

from e3core.o3 import irrep
from e3core.o3._irreps import Irrep, Irreps
from e3core.o3._legendre import Legendre
from e3core.o3._linear import Linear
from e3core.o3._norm import Norm
from e3core.o3._reduce import ReducedTensorProducts, reduced_tensor_products_basis
from e3core.o3._rotation import (
    angles_to_axis_angle,
    angles_to_matrix,
    angles_to_quaternion,
    angles_to_xyz,
    axis_angle_to_angles,
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    compose_angles,
    compose_axis_angle,
    compose_quaternion,
    identity_angles,
    identity_quaternion,
    inverse_angles,
    inverse_quaternion,
    matrix_to_angles,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_x,
    matrix_y,
    matrix_z,
    quaternion_to_angles,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rand_angles,
    rand_axis_angle,
    rand_matrix,
    rand_quaternion,
    xyz_to_angles,
)
from e3core.o3._s2grid import (
    FromS2Grid,
    ToS2Grid,
    irfft,
    rfft,
    s2_grid,
    spherical_harmonics_s2_grid,
)
from e3core.o3._so3grid import SO3Grid
from e3core.o3._spherical_harmonics import (
    SphericalHarmonics,
    SphericalHarmonicsAlphaBeta,
    spherical_harmonics,
    spherical_harmonics_alpha,
    spherical_harmonics_alpha_beta,
)
from e3core.o3._tensor_product import Instruction, TensorProduct
from e3core.o3._tensor_product_families import (
    ElementwiseTensorProduct,
    FullTensorProduct,
    FullyConnectedTensorProduct,
    TensorSquare,
)
from e3core.o3._wigner import (
    change_basis_real_to_complex,
    so3_generators,
    su2_generators,
    wigner_3j,
    wigner_D,
)
from e3core.o3.experimental import FullTensorProductv2

__all__ = [
    "ElementwiseTensorProduct",
    "FromS2Grid",
    "FullTensorProduct",
    "FullTensorProductv2",
    "FullyConnectedTensorProduct",
    "Instruction",
    "Irrep",
    "Irreps",
    "Legendre",
    "Linear",
    "Norm",
    "SO3Grid",
    "ReducedTensorProducts",
    "SphericalHarmonics",
    "SphericalHarmonicsAlphaBeta",
    "TensorProduct",
    "TensorSquare",
    "ToS2Grid",
    "angles_to_axis_angle",
    "angles_to_matrix",
    "angles_to_quaternion",
    "angles_to_xyz",
    "axis_angle_to_angles",
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion",
    "change_basis_real_to_complex",
    "compose_angles",
    "compose_axis_angle",
    "compose_quaternion",
    "identity_angles",
    "identity_quaternion",
    "inverse_angles",
    "inverse_quaternion",
    "irrep",
    "irfft",
    "matrix_to_angles",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "matrix_x",
    "matrix_y",
    "matrix_z",
    "quaternion_to_angles",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "rand_angles",
    "rand_axis_angle",
    "rand_matrix",
    "rand_quaternion",
    "reduced_tensor_products_basis",
    "rfft",
    "s2_grid",
    "so3_generators",
    "spherical_harmonics",
    "spherical_harmonics_alpha",
    "spherical_harmonics_alpha_beta",
    "spherical_harmonics_s2_grid",
    "su2_generators",
    "wigner_3j",
    "wigner_D",
    "xyz_to_angles",
]
