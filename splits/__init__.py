"""OOD splits: declarative TOML files and the loader that checks and applies them.

Importing this package is cheap: no torch, no xarray (numpy and ``tailshift.schema`` only).
See :mod:`tailshift.splits.loader` for the file format and the rules.
"""

from tailshift.splits.loader import (
    SPLITS_DIR,
    RoleSelection,
    RoleSpec,
    Selection,
    Split,
    check_disjoint,
    list_splits,
    load_split,
    required_coords,
    role_mask,
    role_masks,
    scene_fraction,
    selections_may_overlap,
)

__all__ = [
    "SPLITS_DIR",
    "RoleSelection",
    "RoleSpec",
    "Selection",
    "Split",
    "check_disjoint",
    "list_splits",
    "load_split",
    "required_coords",
    "role_mask",
    "role_masks",
    "scene_fraction",
    "selections_may_overlap",
]
