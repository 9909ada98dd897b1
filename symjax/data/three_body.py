"""Task 3 data: a softened gravitational three-body problem in 2-D, in JAX.

Physics (study, eq. 22). Three particles with masses m = (10, 10, 20) attract
each other pairwise with a softened force of magnitude

    |F_ij| = G m_i m_j / (r_ij^2 + eps^2),    G = 1, eps = 0.5,

directed along the line between them: the force on particle i from j is

    F_ij = G m_i m_j / (r_ij^2 + eps^2) * (p_j - p_i) / r_ij,

i.e. F = -m_1 m_2 / (r^2 + eps^2) * r_hat with r_hat the unit vector from
the other particle to the one the force acts on.

Potential. The force is conservative with the pair potential

    U(r) = -(G m_i m_j / eps) * (pi/2 - arctan(r / eps)),

since dU/dr = (G m_i m_j / eps) * (1/eps) / (1 + r^2/eps^2)
            = G m_i m_j / (r^2 + eps^2),
and -grad_{p_i} U = -dU/dr * (p_i - p_j) / r = F_ij. The constant is chosen
so that U -> 0 as r -> infinity; U(0) = -G m_i m_j pi / (2 eps) is finite.
(Note that the usual Plummer potential -G m m / sqrt(r^2 + eps^2) belongs to
a different force, G m m r / (r^2 + eps^2)^{3/2}, and is not used here.)
Near r = 0 the potential behaves like |r| (a cone), so the force has a
finite jump there; close encounters are where the integrator is least
accurate. With dt = 0.01 and N(0, 1) initial states, particles pass through
each other at speeds ~10, and the relative energy error
max_t |E(t) - E(0)| / (K(0) + |U(0)|) over 5000 steps is typically 0.2-0.5
(it shrinks like dt^2 with a smaller step). The data are the trajectories
of this discrete map, which is exactly what the models learn.

State. x = (x_1, x_2, x_3) with x_i = (px, py, vx, vy): 12 numbers, shape
(..., 12). Particles 1 and 2 have equal masses, so swapping them is a
symmetry of the dynamics: ``swap_particles(x) = (x_2, x_1, x_3)``.

Integration. Velocity Verlet (symplectic, time-reversible, second order)
with dt = 0.01 in float64, ``jax.lax.scan`` over steps and ``jax.vmap`` over
trajectories, jitted. float64 is switched on only inside ``simulate`` with
the ``jax.enable_x64(True)`` context manager; the global setting is left as
it is.

Dataset. Each trajectory spans 5000 steps; the state is recorded every 10
steps, at steps 0, 10, ..., 4990: 500 snapshots and 499 consecutive pairs
(x_t, x_{t + 10 steps}) per trajectory. The test set is always 50 held-out
trajectories (24950 pairs). Training + validation sizes follow the study's
Table 4 (``TABLE4``), split 8:2.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

G = 1.0
EPS = 0.5
DT = 0.01
MASSES = np.array([10.0, 10.0, 20.0])
NUM_PARTICLES = 3
STATE_DIM = 12  # 3 particles x (px, py, vx, vy)
NUM_STEPS = 5000
RECORD_EVERY = 10
SNAPSHOTS_PER_TRAJECTORY = NUM_STEPS // RECORD_EVERY  # 500
PAIRS_PER_TRAJECTORY = SNAPSHOTS_PER_TRAJECTORY - 1  # 499
NUM_TEST_TRAJECTORIES = 50

# Study, Table 4: number of training + validation pairs -> batch size.
# The pairs are split 8:2 into training and validation; the test set is
# always the 50 held-out trajectories.
TABLE4: dict[int, int] = {1000: 128, 5000: 256, 20000: 512, 40000: 1024}
TRAIN_FRACTION = 0.8

# Index permutation of range(12) that swaps particles 1 and 2:
# swap_particles(x) == x[..., SWAP_PERMUTATION].
SWAP_PERMUTATION = np.array([4, 5, 6, 7, 0, 1, 2, 3, 8, 9, 10, 11])

#: How the initial velocities are centred (``sample_initial_states``).
VELOCITY_CENTRINGS = ("mass", "plain")
#: How states are standardised before training (``fit_normalizer``).
NORMALIZATIONS = ("standard", "none")
#: The force law: 'study' = eq. 22, |F| = G m_i m_j / (r^2 + eps^2) along r_hat; 'plummer' = Plummer softening,
#: F = G m_i m_j r_vec / (r^2 + eps^2)^(3/2). The study gives eq. 22 but names no softening scheme.
SOFTENINGS = ("study", "plummer")
#: Time stepping: 'verlet' = velocity Verlet (symplectic, second order); 'euler' = forward Euler. The study
#: does not name its integrator (ch. 4 §4: dt = 0.01).
INTEGRATORS = ("verlet", "euler")


# For particle i, the indices of the two other particles.
_ROWS = np.arange(3, dtype=np.int32)
_OTHERS = np.array([[1, 2], [0, 2], [0, 1]], dtype=np.int32)


def _check_state(x, name: str = "x") -> np.ndarray:
    if x.shape[-1:] != (STATE_DIM,):
        raise ValueError(f"{name} must have shape (..., {STATE_DIM}); got {x.shape}")
    return x


def swap_particles(x):
    """(x_1, x_2, x_3) -> (x_2, x_1, x_3) on the last axis of shape (..., 12).

    Works on numpy and JAX arrays.
    """
    _check_state(x)
    return x[..., SWAP_PERMUTATION]


def positions(x) -> np.ndarray:
    """Positions of shape (..., 3, 2) from states of shape (..., 12)."""
    x = np.asarray(_check_state(np.asarray(x)), dtype=np.float64)
    return x.reshape(x.shape[:-1] + (NUM_PARTICLES, 4))[..., :2]


def velocities(x) -> np.ndarray:
    """Velocities of shape (..., 3, 2) from states of shape (..., 12)."""
    x = np.asarray(_check_state(np.asarray(x)), dtype=np.float64)
    return x.reshape(x.shape[:-1] + (NUM_PARTICLES, 4))[..., 2:]


def accelerations(pos, softening: str = "study"):
    """a_i = sum_{j != i} G m_j (p_j - p_i) / (r_ij (r_ij^2 + eps^2))   (softening 'study'), or
    a_i = sum_{j != i} G m_j (p_j - p_i) / (r_ij^2 + eps^2)^(3/2)          (softening 'plummer').

    The first is F_ij / m_i summed over j (eq. 22). Coinciding particles
    (r_ij = 0 exactly, where the direction is undefined) contribute zero.
    Computed in the dtype of ``pos`` (float64 needs x64 enabled, as inside
    ``simulate``). The result is exactly equivariant under swapping
    particles 1 and 2 (see the note in the code).

    Args:
      pos: positions of shape (..., 3, 2).

    Returns:
      accelerations of shape (..., 3, 2).
    """
    pos = jnp.asarray(pos)
    if pos.shape[-2:] != (NUM_PARTICLES, 2):
        raise ValueError(f"pos must have shape (..., 3, 2); got {pos.shape}")
    inv_gm = 1.0 / (G * jnp.asarray(MASSES, dtype=pos.dtype))
    diff = pos[..., None, :, :] - pos[..., :, None, :]  # [..., i, j, :] = p_j - p_i
    # r_ij^2 repeated over the last axis, (..., 3, 3, 2). It is built
    # elementwise rather than broadcast from (..., 3, 3) because XLA rewrites
    # a division by a broadcast into a multiplication by the reciprocal, and
    # the division below has to stay a division (see the note). The two
    # copies may differ in the last bit, which is harmless.
    swapped_xy = diff[..., ::-1]
    r2 = diff * diff + swapped_xy * swapped_xy
    # r2 == 0 on the diagonal (and for coinciding particles); there diff == 0,
    # so any finite denominator gives a zero contribution.
    safe_r2 = jnp.where(r2 > 0, r2, 1.0)
    if softening == "plummer":
        soft = safe_r2 + EPS**2
        denom = soft * jnp.sqrt(soft) * inv_gm[:, None]  # uses m_j
    else:
        denom = jnp.sqrt(safe_r2) * (safe_r2 + EPS**2) * inv_gm[:, None]  # uses m_j
    contrib = diff / denom  # (..., i, j, 2): F_ij / m_i
    # Note on exact symmetry. a_i = c_j + c_k, the contributions of the two
    # other particles; swapping particles 1 and 2 exchanges j and k for
    # particle 3. IEEE addition is commutative, but if c_j and c_k were
    # products the compiler could fuse one of them into the addition (FMA),
    # and the result would depend on the order of the terms. Quotients are
    # never fused, so the sum below is exactly symmetric, and so is the
    # simulation. (Without this the particle-swap symmetry fails at the last
    # bit, and the chaotic dynamics amplify that to O(1) within ~1000 steps;
    # tests/test_three_body.py checks the symmetry bitwise.)
    c_j = contrib[..., _ROWS, _OTHERS[:, 0], :]
    c_k = contrib[..., _ROWS, _OTHERS[:, 1], :]
    return c_j + c_k


def _verlet_step(carry, dt, softening: str = "study"):
    """One velocity Verlet step on (pos, vel, acc), each (..., 3, 2)."""
    pos, vel, acc = carry
    vel_half = vel + (0.5 * dt) * acc
    pos_new = pos + dt * vel_half
    acc_new = accelerations(pos_new, softening)
    vel_new = vel_half + (0.5 * dt) * acc_new
    return pos_new, vel_new, acc_new


def _euler_step(carry, dt, softening: str = "study"):
    """One forward Euler step on (pos, vel, acc): x += dt v, v += dt a(x), both from the old state."""
    pos, vel, acc = carry
    pos_new = pos + dt * vel
    vel_new = vel + dt * acc
    return pos_new, vel_new, accelerations(pos_new, softening)


def _simulate_one(state, num_snapshots: int, record_every: int, dt, integrator: str = "verlet",
                  softening: str = "study"):
    """Trajectory of one state (12,) -> (num_snapshots, 12)."""
    per_particle = state.reshape(NUM_PARTICLES, 4)
    pos, vel = per_particle[:, :2], per_particle[:, 2:]
    carry = (pos, vel, accelerations(pos, softening))
    one_step = _euler_step if integrator == "euler" else _verlet_step

    def block(carry, _):
        def step(c, _):
            return one_step(c, dt, softening), None

        carry, _ = jax.lax.scan(step, carry, None, length=record_every)
        return carry, jnp.concatenate([carry[0], carry[1]], axis=-1).reshape(STATE_DIM)

    _, later = jax.lax.scan(block, carry, None, length=num_snapshots - 1)
    return jnp.concatenate([state[None, :], later], axis=0)


_simulate_batch = jax.jit(
    jax.vmap(_simulate_one, in_axes=(0, None, None, None, None, None)),
    static_argnums=(1, 2, 4, 5),
)


def simulate(
    initial_states,
    num_steps: int = NUM_STEPS,
    record_every: int = RECORD_EVERY,
    dt: float = DT,
    integrator: str = "verlet",
    softening: str = "study",
) -> np.ndarray:
    """Integrates trajectories in float64 with ``integrator`` (``INTEGRATORS``) under the force law
    ``softening`` (``SOFTENINGS``; default: velocity Verlet, eq. 22).

    Snapshots are taken at steps 0, record_every, ..., num_steps - record_every
    (the state at step num_steps itself is not recorded, and the last
    record_every steps are not integrated).

    Args:
      initial_states: array (T, 12) of states (x_1, x_2, x_3),
        x_i = (px, py, vx, vy).
      num_steps: total steps, a positive multiple of ``record_every``.
      record_every: steps between snapshots, >= 1.
      dt: time step.

    Returns:
      numpy float64 array of shape (T, num_steps // record_every, 12).
    """
    initial_states = np.asarray(initial_states, dtype=np.float64)
    if initial_states.ndim != 2 or initial_states.shape[1] != STATE_DIM:
        raise ValueError(
            f"initial_states must have shape (T, {STATE_DIM}); got {initial_states.shape}"
        )
    if record_every < 1:
        raise ValueError(f"record_every must be >= 1; got {record_every}")
    if num_steps < record_every or num_steps % record_every != 0:
        raise ValueError(
            f"num_steps must be a positive multiple of record_every={record_every}; got {num_steps}"
        )
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator: expected one of {list(INTEGRATORS)}, got {integrator!r}")
    if softening not in SOFTENINGS:
        raise ValueError(f"softening: expected one of {list(SOFTENINGS)}, got {softening!r}")
    num_snapshots = num_steps // record_every
    with jax.enable_x64(True):
        states = jnp.asarray(initial_states, dtype=jnp.float64)
        out = _simulate_batch(states, num_snapshots, record_every, jnp.float64(dt), integrator, softening)
        out = np.asarray(out, dtype=np.float64)
    return out


def sample_initial_states(rng: np.random.Generator, num: int, velocity_centring: str = "mass") -> np.ndarray:
    """Random initial states, float64 of shape (num, 12).

    Positions and velocities are drawn i.i.d. N(0, 1). The study (ch. 4 §4)
    says "속도는 평균을 제거하여 전체 계의 병진 운동이 생기지 않는 데이터를
    이용하였다" (the mean of the velocities is removed so that the system has
    no translational motion). ``velocity_centring`` says which mean:

    * ``'mass'`` (default, the project): the centre-of-mass velocity
      sum_i m_i v_i / sum_i m_i is subtracted from every particle, so the total
      momentum sum_i m_i v_i is zero up to rounding (|P| ~ 1e-15) and the
      centre of mass does not drift;
    * ``'plain'`` (the study read literally): the plain mean
      (v_1 + v_2 + v_3) / 3 is subtracted, so sum_i v_i = 0; with the unequal
      masses (10, 10, 20) the total momentum is then 10 v_3 (generally not 0)
      and the centre of mass drifts.

    The sentence's words ("평균", the mean) read as 'plain'; its stated
    purpose (no translation of the whole system) holds only for 'mass'.

    Positions are left as drawn. The 12 numbers of a state are drawn one state
    after another, so the first k states of a larger draw equal a draw of k
    states from the same generator state.
    """
    if num < 0:
        raise ValueError(f"num must be >= 0; got {num}")
    if velocity_centring not in VELOCITY_CENTRINGS:
        raise ValueError(f"velocity_centring must be one of {VELOCITY_CENTRINGS}; got {velocity_centring!r}")
    raw = rng.normal(size=(num, NUM_PARTICLES, 4))  # one state after another
    pos, vel = raw[..., :2], raw[..., 2:]
    if velocity_centring == "mass":
        mean_vel = np.sum(MASSES[:, None] * vel, axis=1, keepdims=True) / np.sum(MASSES)
    else:
        mean_vel = np.mean(vel, axis=1, keepdims=True)
    vel = vel - mean_vel
    return np.concatenate([pos, vel], axis=-1).reshape(num, STATE_DIM)


def total_momentum(x) -> np.ndarray:
    """P = sum_i m_i v_i, float64 of shape (..., 2), for states (..., 12)."""
    return np.sum(MASSES[:, None] * velocities(x), axis=-2)


def potential_energy(x, softening: str = "study") -> np.ndarray:
    """U = sum_{i<j} -(G m_i m_j / eps) (pi/2 - arctan(r_ij / eps))   (softening 'study'), or
    U = sum_{i<j} -G m_i m_j / sqrt(r_ij^2 + eps^2)                   (softening 'plummer'), shape (...).

    The pair potential whose negative gradient is the force (eq. 22 for 'study'; see
    the module docstring for the derivation).
    """
    pos = positions(x)
    total = np.zeros(pos.shape[:-2])
    for i in range(NUM_PARTICLES):
        for j in range(i + 1, NUM_PARTICLES):
            r = np.linalg.norm(pos[..., j, :] - pos[..., i, :], axis=-1)
            if softening == "plummer":
                total = total - G * MASSES[i] * MASSES[j] / np.sqrt(r * r + EPS**2)
            else:
                total = total - (G * MASSES[i] * MASSES[j] / EPS) * (0.5 * math.pi - np.arctan(r / EPS))
    return total


def kinetic_energy(x) -> np.ndarray:
    """K = sum_i m_i |v_i|^2 / 2, float64 of shape (...)."""
    vel = velocities(x)
    return 0.5 * np.sum(MASSES[:, None] * vel * vel, axis=(-2, -1))


def total_energy(x, softening: str = "study") -> np.ndarray:
    """E = K + U, float64 of shape (...), for states of shape (..., 12) (U of ``potential_energy``)."""
    return kinetic_energy(x) + potential_energy(x, softening)


def make_pairs(trajectories) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive snapshot pairs, flattened over trajectories.

    Args:
      trajectories: array (T, S, 12).

    Returns:
      (x_t, x_next), each of shape (T * (S - 1), 12), ordered trajectory by
      trajectory; x_next[k] is the snapshot after x_t[k] in the same
      trajectory.
    """
    trajectories = np.asarray(trajectories)
    if trajectories.ndim != 3 or trajectories.shape[-1] != STATE_DIM or trajectories.shape[1] < 2:
        raise ValueError(
            f"trajectories must have shape (T, S >= 2, {STATE_DIM}); got {trajectories.shape}"
        )
    x_t = trajectories[:, :-1].reshape(-1, STATE_DIM)
    x_next = trajectories[:, 1:].reshape(-1, STATE_DIM)
    return x_t, x_next


def num_trajectories_needed(pairs: int, pairs_per_trajectory: int = PAIRS_PER_TRAJECTORY) -> int:
    """Smallest number of trajectories giving at least ``pairs`` pairs.

    With 499 pairs per trajectory: 1000 -> 3, 5000 -> 11, 20000 -> 41,
    40000 -> 81.
    """
    if pairs < 0:
        raise ValueError(f"pairs must be >= 0; got {pairs}")
    if pairs_per_trajectory < 1:
        raise ValueError(f"pairs_per_trajectory must be >= 1; got {pairs_per_trajectory}")
    return -(-pairs // pairs_per_trajectory)


def make_dataset(
    seed: int,
    num_train_trajectories: int,
    num_test_trajectories: int = NUM_TEST_TRAJECTORIES,
    num_steps: int = NUM_STEPS,
    record_every: int = RECORD_EVERY,
    velocity_centring: str = "mass",
    integrator: str = "verlet",
    softening: str = "study",
) -> dict[str, np.ndarray]:
    """Simulated training pool and test set for one seed (``simulate``'s integrator and softening).

    Streams: ``np.random.SeedSequence(seed).spawn(2)`` gives two independent
    child sequences; the first seeds the generator of the training-pool
    initial states, the second that of the test initial states. Test
    trajectories therefore depend only on ``seed`` (the same 50 for every
    training size), and pools of different sizes for the same seed are
    prefixes of one another. Train and test initial states come from
    independent streams, so the trajectories are disjoint.
    ``velocity_centring`` ('mass' or 'plain') is passed to
    ``sample_initial_states`` for both sets.

    Returns:
      dict of float64 numpy arrays:
        'train_x', 'train_y': (num_train_trajectories * 499, 12) pool pairs
          (x_t, x_{t+10 steps}), ordered trajectory by trajectory;
        'test_x', 'test_y': (num_test_trajectories * 499, 12) test pairs;
        'train_initial', 'test_initial': the initial states (T, 12).
      (499 = num_steps // record_every - 1.)
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0; got {seed}")
    if num_train_trajectories < 0:
        raise ValueError(f"num_train_trajectories must be >= 0; got {num_train_trajectories}")
    if num_test_trajectories < 0:
        raise ValueError(f"num_test_trajectories must be >= 0; got {num_test_trajectories}")
    train_seq, test_seq = np.random.SeedSequence(seed).spawn(2)
    train_initial = sample_initial_states(np.random.default_rng(train_seq), num_train_trajectories,
                                          velocity_centring)
    test_initial = sample_initial_states(np.random.default_rng(test_seq), num_test_trajectories,
                                         velocity_centring)
    # One simulation call for both sets (one compilation, one batch).
    trajectories = simulate(
        np.concatenate([train_initial, test_initial], axis=0), num_steps, record_every,
        integrator=integrator, softening=softening,
    )
    train_x, train_y = make_pairs(trajectories[:num_train_trajectories])
    test_x, test_y = make_pairs(trajectories[num_train_trajectories:])
    return {
        "train_x": train_x,
        "train_y": train_y,
        "test_x": test_x,
        "test_y": test_y,
        "train_initial": train_initial,
        "test_initial": test_initial,
    }


def fit_normalizer(x, mode: str = "standard") -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std that commute with the particle swap.

    ``mode`` (``NORMALIZATIONS``):

    * ``'standard'`` (default, the project): the statistics below;
    * ``'none'`` (the study, whose ch. 4 §4 describes the data as the raw
      simulated pairs (x_t, x_{t+10}) and no standardisation anywhere):
      mean = 0 and std = 1, so ``normalize`` and ``denormalize`` return their
      input bitwise unchanged (x - 0 = x and x / 1 = x in IEEE arithmetic) and
      the models see the raw states.

    For each feature f in (px, py, vx, vy) the statistics of particles 1 and
    2 are pooled (their columns f and 4 + f are concatenated) and used for
    both; particle 3 gets its own. Hence mean[SWAP_PERMUTATION] == mean and
    std[SWAP_PERMUTATION] == std exactly, and normalize(swap(x)) ==
    swap(normalize(x)) exactly. Std is the population std; a zero std is
    replaced by 1.

    Args:
      x: states of shape (N, 12) (or (..., 12); all leading axes are pooled).

    Returns:
      (mean, std), float64 arrays of shape (12,).
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(f"mode must be one of {NORMALIZATIONS}; got {mode!r}")
    x = np.asarray(_check_state(np.asarray(x)), dtype=np.float64).reshape(-1, STATE_DIM)
    if x.shape[0] == 0:
        raise ValueError("x must contain at least one state; got 0")
    if mode == "none":
        return np.zeros(STATE_DIM), np.ones(STATE_DIM)
    per_particle = x.reshape(-1, NUM_PARTICLES, 4)
    pooled = per_particle[:, :2, :].reshape(-1, 4)  # particles 1 and 2 together
    third = per_particle[:, 2, :]
    mean_12, std_12 = pooled.mean(axis=0), pooled.std(axis=0)
    mean_3, std_3 = third.mean(axis=0), third.std(axis=0)
    mean = np.concatenate([mean_12, mean_12, mean_3])
    std = np.concatenate([std_12, std_12, std_3])
    std = np.where(std > 0, std, 1.0)
    return mean, std


def normalize(x, mean, std):
    """(x - mean) / std, elementwise over the last axis (12)."""
    return (x - mean) / std


def denormalize(z, mean, std):
    """Inverse of ``normalize``: z * std + mean."""
    return z * std + mean


def _train_val_counts(data_size: int, train_fraction: float) -> tuple[int, int]:
    """(n_train, n_val) = (round(train_fraction n), n - n_train), each checked to be >= 1."""
    if not isinstance(data_size, (int, np.integer)) or data_size < 2:
        raise ValueError(f"data_size must be an integer >= 2; got {data_size!r}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1); got {train_fraction}")
    n_train = int(round(train_fraction * data_size))
    n_val = data_size - n_train
    if n_train < 1 or n_val < 1:
        raise ValueError(f"data_size={data_size} with train_fraction={train_fraction} leaves "
                         f"{n_train} training and {n_val} validation pairs; expected at least 1 of each")
    return n_train, n_val


def trajectories_for_split(data_size: int, pairs_per_trajectory: int = PAIRS_PER_TRAJECTORY,
                           train_fraction: float = TRAIN_FRACTION) -> int:
    """Fewest trajectories that ``split_pairs_by_trajectory`` can split ``data_size`` pairs from.

    ceil(n_train / P) + ceil(n_val / P): 1000 -> 2 + 1 = 3 and 40000 -> 65 + 17 = 82
    with P = 499 (one more than ``num_trajectories_needed(40000)`` = 81).
    """
    if not isinstance(pairs_per_trajectory, (int, np.integer)) or pairs_per_trajectory < 1:
        raise ValueError(f"pairs_per_trajectory must be an integer >= 1; got {pairs_per_trajectory!r}")
    n_train, n_val = _train_val_counts(data_size, train_fraction)
    return -(-n_train // pairs_per_trajectory) + -(-n_val // pairs_per_trajectory)


def split_pairs_by_trajectory(
    seed,
    data_size: int,
    num_trajectories: int,
    pairs_per_trajectory: int = PAIRS_PER_TRAJECTORY,
    train_fraction: float = TRAIN_FRACTION,
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation pairs from disjoint sets of trajectories.

    The pool holds ``num_trajectories`` (T) trajectories of P =
    ``pairs_per_trajectory`` consecutive pairs each, ordered trajectory by
    trajectory as ``make_pairs`` returns them, so pool pair k belongs to
    trajectory k // P. The study (ch. 4 §4) says only "각 조건에서 8 : 2
    비율로 training data와 validation data를 분할하였다" (each condition's
    data is split 8:2 into training and validation), not whether a trajectory
    may feed both; this is the split in which none does.

    With n = ``data_size``, n_train = round(train_fraction n) and
    n_val = n - n_train:

    1. the trajectories are shuffled; the first T_val are validation
       trajectories, the other T - T_val training trajectories, with T_val the
       proportional share round(T n_val / n), moved into
       [ceil(n_val / P), T - ceil(n_train / P)] so each side holds enough pairs;
    2. n_train pairs are drawn uniformly without replacement from the pairs of
       the training trajectories, n_val from those of the validation ones.

    The pairs are spread over all T trajectories as in a uniform draw of n
    pairs from the pool; only the sharing of trajectories between the two sides
    is removed.

    Args:
      seed: anything ``np.random.default_rng`` accepts (an int or a sequence
        of ints); the split is a function of it alone.
      data_size: n >= 2, training + validation pairs.
      num_trajectories: T, trajectories in the pool.
      pairs_per_trajectory: P.
      train_fraction: share of training pairs, in (0, 1).

    Returns:
      (train_idx, val_idx): int64 pool indices of shapes (n_train,) and (n_val,),
      all distinct, with no trajectory k // P in both.

    Raises:
      ValueError: when T is too small to hold both sides on disjoint
        trajectories (T < ``trajectories_for_split(n, P)``).
    """
    needed = trajectories_for_split(data_size, pairs_per_trajectory, train_fraction)
    if not isinstance(num_trajectories, (int, np.integer)) or num_trajectories < needed:
        raise ValueError(f"splitting {data_size} pairs {train_fraction:g}:{1 - train_fraction:g} by trajectory "
                         f"needs at least {needed} trajectories of {pairs_per_trajectory} pairs; "
                         f"got {num_trajectories!r}")
    n_train, n_val = _train_val_counts(data_size, train_fraction)
    min_val = -(-n_val // pairs_per_trajectory)
    min_train = -(-n_train // pairs_per_trajectory)
    num_val = int(np.clip(round(num_trajectories * n_val / data_size), min_val, num_trajectories - min_train))
    rng = np.random.default_rng(seed)
    trajectories = rng.permutation(num_trajectories)
    val_traj, train_traj = trajectories[:num_val], trajectories[num_val:]

    def pairs_of(traj: np.ndarray, count: int) -> np.ndarray:
        pool = (traj[:, None] * pairs_per_trajectory + np.arange(pairs_per_trajectory)).reshape(-1)
        return pool[rng.choice(pool.size, size=count, replace=False)].astype(np.int64)

    return pairs_of(train_traj, n_train), pairs_of(val_traj, n_val)
