"""Candidate symmetries for ``rank_symmetries``: (action_out, action_in) pairs of common groups.

A candidate says how one group G acts on a layer's output indices and on its
input indices; the weights it shares are those constant on the orbits of
index pairs. Two families:

Set-like layers (``pair``, ``candidates_1d``): G acts on ``d`` points; the
n_in inputs are d blocks of n_in / d channels (``actions.blocks``, index
point * channels + channel). Outputs are either equivariant (d blocks of
n_out / d channels, moved like the inputs) or invariant (n_out fixed indices).
Groups: trivial, S_d (all permutations), C_d (cyclic shifts i -> i + 1 mod d),
D_d (shifts and the reflection i -> -i mod d; d >= 3), mirror (Z_2: i -> d - 1 - i).

Translation layers (``translation_pair``, ``candidates_2d``): the weight of
reference 001 §3.2 for one class, W[t, p] with t a translation on a grid and p
a pixel of an image, row-major. The grid translation group C_{T_1} x ... acts
on t by t -> t + e_a (mod T_a) and on p by p -> p + s_a e_a (mod P_a) with the
stride s_a = P_a / T_a; a W shared under it is a convolution (W[t, p] =
f(p - s t), cyclic). Grid and image have 1 or 2 axes.

Names in the candidate dicts are the groups' names (``S_10``, ``C_10``,
``C_10 x C_10``, ...); with output='both' they carry " equivariant" / " invariant".
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from symjax import actions, groups
from symjax.actions import Action
from symjax.groups import PermutationGroup

OUTPUTS = ("equivariant", "invariant", "both")


def trivial_group() -> PermutationGroup:
    """The group with one element (named '1')."""
    return groups.from_generators([], degree=1, name="1")


def mirror(d: int) -> PermutationGroup:
    """Z_2 reversing d points: i -> d - 1 - i."""
    return groups.from_generators([list(range(d - 1, -1, -1))], name=f"mirror_{d}")


def trivial(n_out: int, n_in: int) -> tuple[Action, Action]:
    """The trivial group fixing every index: every weight its own orbit (score 1 by definition)."""
    group = trivial_group()
    return actions.trivial(group, n_out), actions.trivial(group, n_in)


def _positive(value, what):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer; got {value!r}")
    return int(value)


def pair(group: PermutationGroup, n_out: int, n_in: int, *, output: str = "equivariant") -> tuple[Action, Action]:
    """G on d = group.degree points: inputs d blocks x (n_in / d), outputs equivariant blocks or invariant.

    Args:
      group: a permutation group of degree d.
      n_out, n_in: layer sizes; n_in (and n_out for output='equivariant') must
        be multiples of d.
      output: 'equivariant' (outputs d blocks x n_out/d channels) or
        'invariant' (the group fixes every output).
    """
    n_out, n_in = _positive(n_out, "n_out"), _positive(n_in, "n_in")
    d = group.degree
    if n_in % d:
        raise ValueError(f"n_in = {n_in} must be a multiple of the {d} points {group.name or 'G'} acts on")
    if output == "equivariant":
        if n_out % d:
            raise ValueError(f"equivariant outputs need n_out = {n_out} to be a multiple of the {d} points "
                             f"{group.name or 'G'} acts on; use output='invariant'")
        return actions.blocks(group, n_out // d), actions.blocks(group, n_in // d)
    if output == "invariant":
        return actions.trivial(group, n_out), actions.blocks(group, n_in // d)
    raise ValueError(f"output must be 'equivariant' or 'invariant'; got {output!r}")


def groups_1d(d: int) -> dict[str, PermutationGroup]:
    """The groups of ``candidates_1d`` on d points, by name: S_d, C_d, D_d (d >= 3), mirror_d (d >= 2)."""
    d = _positive(d, "points")
    found = {"S": groups.symmetric(d)}
    if d >= 2:
        found["C"] = groups.cyclic(d)
        found["mirror"] = mirror(d)
    if d >= 3:
        found["D"] = groups.dihedral(d)
    return {g.name: g for g in found.values()}


def candidates_1d(n_out: int, n_in: int, *, points: int | None = None,
                  output: str = "equivariant") -> dict[str, tuple[Action, Action]]:
    """trivial, S_d, C_d, D_d and mirror_d acting on a set-like layer (see ``pair``).

    Args:
      n_out, n_in: the layer's sizes (W is n_out x n_in in 'out_in' layout).
      points: d, the number of points the groups permute (default n_in: one
        input per point).
      output: 'equivariant', 'invariant' or 'both' (both kinds, names
        suffixed ' equivariant' / ' invariant'; equivariant ones only when
        n_out is a multiple of d).
    Example:
      >>> sorted(candidates_1d(10, 10))
      ['C_10', 'D_10', 'S_10', 'mirror_10', 'trivial']
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}; got {output!r}")
    d = n_in if points is None else points
    found = {"trivial": trivial(n_out, n_in)}
    kinds = ("equivariant", "invariant") if output == "both" else (output,)
    for kind in kinds:
        if output == "both" and kind == "equivariant" and n_out % d:
            continue
        suffix = f" {kind}" if output == "both" else ""
        for name, group in groups_1d(d).items():
            found[name + suffix] = pair(group, n_out, n_in, output=kind)
    return found


def _shape(value, what) -> tuple[int, ...]:
    shape = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(shape) not in (1, 2):
        raise ValueError(f"{what} must have 1 or 2 axes; got {value!r}")
    return tuple(_positive(s, what) for s in shape)


def _grid_images(shape: Sequence[int], axis: int, step: int, flip: bool) -> np.ndarray:
    """Images of the row-major points of ``shape`` under t_a -> t_a + step (or -t_a when flip), mod shape[a]."""
    index = np.array(list(itertools.product(*map(range, shape))))
    moved = index.copy()
    moved[:, axis] = (-index[:, axis] if flip else index[:, axis] + step) % shape[axis]
    return np.ravel_multi_index(tuple(moved.T), shape)


def translation_pair(grid, image=None, *, axes: Sequence[int] | None = None,
                     reflections: bool = False) -> tuple[Action, Action]:
    """(action on grid translations t, action on image pixels p) of the cyclic translation group.

    Args:
      grid: the translation grid (T,) or (T_1, T_2).
      image: the image (P,) or (P_1, P_2), each P_a a multiple of T_a (stride
        P_a / T_a); default = grid (stride 1).
      axes: which axes translate (default all): (0,) gives vertical
        translations only in 2-D.
      reflections: add t_a -> -t_a, p_a -> -p_a (the dihedral group D_{T_a} per axis).
    Returns:
      (action_out of size prod(grid), action_in of size prod(image)).
    """
    grid = _shape(grid, "grid")
    image = grid if image is None else _shape(image, "image")
    if len(image) != len(grid) or any(p % t for p, t in zip(image, grid)):
        raise ValueError(f"image {image} must have the grid's {len(grid)} axes, each a multiple of the grid "
                         f"{grid} (stride = image / grid)")
    axes = tuple(range(len(grid))) if axes is None else tuple(axes)
    if not axes or any(a not in range(len(grid)) for a in axes):
        raise ValueError(f"axes must be a non-empty subset of {tuple(range(len(grid)))}; got {axes!r}")
    strides = [p // t for p, t in zip(image, grid)]
    moves = [(a, False) for a in axes] + ([(a, True) for a in axes] if reflections else [])
    moves = [(a, flip) for a, flip in moves if grid[a] >= 2 and (not flip or grid[a] >= 3)]
    name = " x ".join(f"{'D' if (a, True) in moves else 'C'}_{grid[a]}" for a in axes) if moves else "1"
    group = groups.from_generators([_grid_images(grid, a, 1, flip) for a, flip in moves],
                                   degree=int(np.prod(grid)), name=name)
    action_out = actions.base(group)
    if image == grid:
        return action_out, actions.base(group)
    images = np.stack([_grid_images(image, a, strides[a], flip) for a, flip in moves]).reshape(
        len(moves), int(np.prod(image)))
    return action_out, actions.from_images(group, images)


def diagonal_translation_pair(grid, image=None) -> tuple[Action, Action]:
    """(action on translations t, action on pixels p) of the diagonal translations t -> t + (1, 1), p -> p + stride.

    The cyclic group of order lcm(T_1, T_2) that moves both axes at once: the
    group that reference 001's 2-D offset penalty |W[k, i, j, m, n] -
    W[k, i + b, j + b, m + b', n + b']| ties (one b for both translation axes),
    a subgroup of C_T1 x C_T2. Arguments as ``translation_pair`` (2-D only).
    """
    grid = _shape(grid, "grid")
    image = grid if image is None else _shape(image, "image")
    if len(grid) != 2 or len(image) != 2 or any(p % t for p, t in zip(image, grid)):
        raise ValueError(f"diagonal translations need a 2-D grid and an image that is a multiple of it; got grid "
                         f"{grid}, image {image}")
    strides = [p // t for p, t in zip(image, grid)]
    order = int(np.lcm(*grid))
    group = groups.from_generators([_shift_images(grid, (1, 1))], degree=int(np.prod(grid)), name=f"C_{order}")
    return actions.base(group), actions.from_images(group, _shift_images(image, strides)[None])


def _shift_images(shape: Sequence[int], steps: Sequence[int]) -> np.ndarray:
    """Images of the row-major points of ``shape`` under p -> p + steps (mod shape, every axis at once)."""
    index = np.array(list(itertools.product(*map(range, shape))))
    return np.ravel_multi_index(tuple(((index + np.asarray(steps)) % np.asarray(shape)).T), shape)


def candidates_2d(height: int, width: int, *, grid: Sequence[int] | None = None) -> dict[str, tuple[Action, Action]]:
    """Candidates for a translation weight W[t, p] of an image height x width (reference 001 §3.2).

    Rows t index a translation grid (default the image itself, stride 1),
    columns p the pixels, both row-major. Candidates: 'trivial'; 'C_T1 x C_T2'
    (2-D translations); 'C_T1 (vertical)' and 'C_T2 (horizontal)' (one axis
    only); 'C_L (diagonal)' (both axes at once, L = lcm(T1, T2): what the
    reference's offset penalty ties, ``diagonal_translation_pair``);
    'D_T1 x D_T2' (translations and flips); and, at stride 1, 'S_{hw}'
    (pixels as an unordered set, acting alike on t and p).
    """
    image = (_positive(height, "height"), _positive(width, "width"))
    grid = image if grid is None else _shape(grid, "grid")
    found = {"trivial": trivial(int(np.prod(grid)), height * width)}
    both = translation_pair(grid, image)
    found[both[0].group.name] = both
    for axis, label in ((0, "vertical"), (1, "horizontal")):
        one = translation_pair(grid, image, axes=(axis,))
        found[f"{one[0].group.name} ({label})"] = one
    if len(grid) == 2 and min(grid) >= 2:
        diagonal = diagonal_translation_pair(grid, image)
        found[f"{diagonal[0].group.name} (diagonal)"] = diagonal
    flips = translation_pair(grid, image, reflections=True)
    found[flips[0].group.name] = flips
    if grid == image:
        s = groups.symmetric(height * width)
        found[s.name] = (actions.base(s), actions.base(s))
    return found
