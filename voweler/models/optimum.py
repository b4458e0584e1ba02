"""The best straight boundary for two classes of a few points, computed exactly.

numpy and scipy's HiGHS solvers. Whatever the dimension, ``n`` points span at most ``n``
directions, and a boundary's component outside their span changes no score. So everything is
solved in the coordinates of that span (``n x r``, ``r <= n``, from an SVD): at dimension 4096
the solvers see at most 26 unknowns, and the cost beyond the SVD does not grow with ``dim``.

- **Separable or not**: a linear program, the feasibility of ``y (z.c + b) >= 1``.
- **Separable: the maximum margin.** The hard-margin SVM, ``min |c|^2 / 2`` subject to
  ``y (z.c + b) >= 1``: a quadratic program, which HiGHS does not solve. scipy's SLSQP finds
  which points are on the margin, and the KKT system on those points is then solved exactly.
  The answer is certified, not trusted: the boundary is feasible and a dual feasible point has
  the same objective up to ``gap`` (weak duality: nothing can have a wider margin).
- **Not separable: the best accuracy.** A mixed-integer program, one binary per point
  (``s_i = 1``: allowed on the wrong side): ``min sum s`` subject to
  ``y_i (z_i.c + b) >= m - M s_i`` with ``|c_k| <= 1`` and ``|b|`` bounded (so that a big ``M``
  of about 10 suffices), ``m`` = :data:`MILP_MARGIN`. Then, while it finds better, a second MILP
  looks for the widest clearance ``t`` of any set with fewer points left out, which finds the
  sets that only a narrow boundary separates. Every set of points the MILPs keep is confirmed
  by the exact LP above. When no better set is confirmed, ``tolerance`` says the widest
  clearance the last program found (HiGHS's noise, about 1e-5 at most, in the letters' units
  where a letter is about 1 long): a boundary with one more point right would have to pass
  closer than that to some letter. The boundary returned is the maximum-margin one for the
  points it gets right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp, minimize

# The first MILP asks each kept point to clear the boundary by this, well above HiGHS's own
# tolerances (1e-6, times a big M of about 10), so that it cannot keep a point it should not.
MILP_MARGIN = 1e-4


@dataclass(frozen=True)
class Boundary:
    """``x.w + b > 0`` is the positive class. ``margin`` is the maximum margin (separable only)."""

    weights: np.ndarray
    bias: float
    accuracy: float
    separable: bool
    margin: float | None
    gap: float  # the maximum margin's certificate: its relative duality gap (0 when not separable)
    tolerance: float  # not separable: no boundary with one more point right clears them all by more (0 when separable)

    @property
    def direction(self) -> np.ndarray:
        """The unit normal of the boundary."""
        return self.weights / np.linalg.norm(self.weights)

    @property
    def threshold(self) -> float:
        """Along :attr:`direction`, the positive class lies above this."""
        return -self.bias / float(np.linalg.norm(self.weights))


def best_boundary(X: np.ndarray, positive: np.ndarray) -> Boundary:
    """The best straight boundary between the rows of ``X`` where ``positive`` and the others.

    Separable: the maximum-margin boundary. Not: a boundary with the best accuracy possible.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [1.0, 3.0]])
    >>> b = best_boundary(X, np.array([False, False, True, True]))
    >>> b.separable, b.accuracy, round(b.margin, 6), b.direction.round(6).tolist()
    (True, 1.0, 1.5, [0.0, 1.0])

    XOR is the classic that no straight line separates: three of four is the best.

    >>> xor = best_boundary(X[[0, 1, 2, 3]], np.array([False, True, True, False]))
    >>> xor.separable, xor.accuracy, xor.margin
    (False, 0.75, None)
    """
    X = np.asarray(X, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    if X.ndim != 2 or positive.shape != (X.shape[0],) or not np.isfinite(X).all():
        raise ValueError("X must be 2-D and finite, with one label per row")
    if positive.all() or not positive.any():
        raise ValueError("both classes must be present")
    y = np.where(positive, 1.0, -1.0)
    Z, basis = _span(X)
    if separable(Z, y) is not None:
        c, b, gap = max_margin(Z, y)
        weights = basis @ c
        return Boundary(weights, b, _accuracy(X, weights, b, positive), True, 1.0 / float(np.linalg.norm(c)), gap, 0.0)
    kept, c, b, tolerance = _most_separable(Z, y)
    if len(set(y[kept])) == 2:  # else "everything is one class" is best, and the LP's boundary does it
        try:
            c, b, _gap = max_margin(Z[kept], y[kept])  # the widest boundary among the best
        except ArithmeticError:
            pass  # kept points barely separable: keep the LP's strict separator
    weights = basis @ c
    accuracy = _accuracy(X, weights, b, positive)
    if accuracy != kept.mean():  # the MILP's count and the boundary's must agree
        raise ArithmeticError(f"boundary reaches {accuracy}, the program {kept.mean()}")
    return Boundary(weights, b, accuracy, False, None, 0.0, tolerance)


def _span(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the rows in an orthonormal basis of their span, and that basis (dim x r)."""
    _u, s, vt = np.linalg.svd(X, full_matrices=False)
    rank = int((s > s[0] * 1e-12).sum()) if s.size and s[0] > 0 else 0
    basis = vt[:rank].T
    return X @ basis, basis


def _box(Z: np.ndarray) -> float:
    """A bound on ``|b|`` that any useful boundary with ``|c| <= 1`` meets."""
    return float(np.linalg.norm(Z, axis=1).max()) + 1.0


def separable(Z: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """A boundary ``(c, b)`` with every point strictly on its side, or None (a linear program).

    Feasibility of ``y_i (z_i.c + b) >= 1``, nothing else: any strict separator, scaled, meets it.
    """
    n, r = Z.shape
    rows = -np.hstack([y[:, None] * Z, y[:, None]])
    result = linprog(np.zeros(r + 1), A_ub=rows, b_ub=-np.ones(n), bounds=[(None, None)] * (r + 1), method="highs")
    if result.status == 2:
        return None
    if result.status != 0:
        raise ArithmeticError(f"separability LP failed: {result.message}")
    v = result.x
    if (y * (Z @ v[:r] + v[r]) <= 0).any():  # within HiGHS's tolerance of 1 but not strictly: too close to call
        return None
    return v


def max_margin(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The hard-margin SVM on separable points: ``(c, b, gap)``, margin ``1 / |c|``.

    SLSQP on the primal finds the points on the margin; the KKT system on them gives the exact
    solution and its multipliers; ``gap`` is the relative duality gap that certifies it.
    """
    n, r = Z.shape
    if r >= n - 1:  # in as many dimensions as points, every point is usually on the margin: try that first
        every = _kkt(Z, y, np.arange(n))
        if every is not None and _duality_gap(Z, y, *every) < 1e-9:
            return every[0], every[1], _duality_gap(Z, y, *every)
    signed = y[:, None] * Z
    guess = separable(Z, y)
    if guess is None:
        raise ArithmeticError("not separable")
    result = minimize(
        lambda v: 0.5 * v[:r] @ v[:r],
        guess,
        jac=lambda v: np.concatenate([v[:r], [0.0]]),
        constraints=[{"type": "ineq", "fun": lambda v: signed @ v[:r] + y * v[r] - 1.0,
                      "jac": lambda v: np.hstack([signed, y[:, None]])}],
        method="SLSQP",
        options={"maxiter": 1000, "ftol": 1e-14},
    )
    c, b = result.x[:r], float(result.x[r])
    slack = signed @ c + y * b - 1.0
    best = None
    for tol in (1e-9, 1e-7, 1e-5, 1e-3):  # the points on the margin, as SLSQP left them
        active = np.flatnonzero(slack <= tol)
        solved = _kkt(Z, y, active)
        if solved is None:
            continue
        c_kkt, b_kkt, alpha = solved
        gap = _duality_gap(Z, y, c_kkt, b_kkt, alpha)
        if best is None or gap < best[2]:
            best = (c_kkt, b_kkt, gap)
        if gap < 1e-9:
            break
    if best is None or best[2] > 1e-6:
        raise ArithmeticError("the maximum margin could not be certified")
    return best


def _kkt(Z: np.ndarray, y: np.ndarray, active: np.ndarray):
    """Solve ``c = sum a_i y_i z_i``, ``sum a_i y_i = 0``, ``y_i (z_i.c + b) = 1`` on ``active``."""
    if active.size == 0 or len(set(y[active])) < 2:
        return None
    za, ya = Z[active], y[active]
    k = len(active)
    q = (ya[:, None] * ya[None, :]) * (za @ za.T)
    system = np.zeros((k + 1, k + 1))
    system[:k, :k] = q
    system[:k, k] = ya
    system[k, :k] = ya
    rhs = np.concatenate([np.ones(k), [0.0]])
    solution, *_ = np.linalg.lstsq(system, rhs, rcond=None)
    alpha_active, b = solution[:k], float(solution[k])
    if (alpha_active < -1e-9 * max(1.0, float(np.abs(alpha_active).max()))).any():
        return None
    alpha = np.zeros(len(y))
    alpha[active] = np.clip(alpha_active, 0.0, None)
    c = Z.T @ (alpha * y)
    return c, b, alpha


def _duality_gap(Z: np.ndarray, y: np.ndarray, c: np.ndarray, b: float, alpha: np.ndarray) -> float:
    """Relative gap between the primal (made feasible by scaling) and the dual at ``alpha``.

    Weak duality: for alpha >= 0 with ``sum alpha y = 0``, ``sum alpha - |sum alpha y z|^2 / 2``
    is at most the optimum, so a small gap proves no boundary has a wider margin.
    """
    scores = y * (Z @ c + b)
    low = float(scores.min())
    if low <= 0:
        return np.inf
    primal = 0.5 * float(c @ c) / low**2  # (c, b) / low is feasible
    if abs(float(alpha @ y)) > 1e-9 * max(1.0, alpha.sum()):
        return np.inf
    w = Z.T @ (alpha * y)
    dual = float(alpha.sum()) - 0.5 * float(w @ w)
    return (primal - dual) / primal


def _most_separable(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The largest set of points some boundary puts strictly on their sides: a boolean mask, a
    strict separator ``(c, b)`` of those points, and the widest clearance (in the box's units)
    that the last program found for any set with one more point; the points kept are always
    confirmed by the exact LP.

    First ``min sum s`` with every kept point cleared by :data:`MILP_MARGIN`; then, while it finds
    better, the widest clearance ``t`` of any set with fewer points left out (a second MILP),
    which finds sets that only a narrow boundary separates.
    """
    n, r = Z.shape
    bound = _box(Z)
    big = float(np.abs(Z).sum(axis=1).max()) + bound + 1.0
    # variables: c (r), b, s (n binaries), t. y_i (z_i.c + b) + M s_i - t >= 0
    a = np.hstack([y[:, None] * Z, y[:, None], big * np.eye(n), -np.ones((n, 1))])
    integrality = np.concatenate([np.zeros(r + 1), np.ones(n), [0]])
    lower = np.concatenate([-np.ones(r), [-bound], np.zeros(n), [0.0]])
    upper = np.concatenate([np.ones(r), [bound], np.ones(n), [1.0]])

    def solve(objective, t_low, most_left_out):
        rows = [LinearConstraint(a, lb=0.0, ub=np.inf)]
        if most_left_out is not None:
            rows.append(LinearConstraint(np.concatenate([np.zeros(r + 1), np.ones(n), [0]]), lb=0, ub=most_left_out))
        result = milp(
            objective,
            constraints=rows,
            integrality=integrality,
            bounds=Bounds(np.concatenate([lower[:-1], [t_low]]), upper),
            options={"mip_rel_gap": 0.0},
        )
        if result.status != 0:
            raise ArithmeticError(f"best-accuracy MILP failed: {result.message}")
        kept = result.x[r + 1 : r + 1 + n] < 0.5
        return kept, float(result.x[-1]), _strict(Z, y, kept, bound)

    fewest = np.concatenate([np.zeros(r + 1), np.ones(n), [0]])
    kept, _t, strict = solve(fewest, MILP_MARGIN, None)
    if strict is None:
        raise ArithmeticError("the best-accuracy MILP kept points that are not separable")
    widest = np.concatenate([np.zeros(r + 1 + n), [-1.0]])
    while kept.sum() < n:
        more, clearance, better = solve(widest, 0.0, int(n - kept.sum()) - 1)
        if better is None:
            return kept, strict[0], strict[1], max(clearance, 0.0)
        kept, strict = more, better
    return kept, strict[0], strict[1], 0.0


def _strict(Z: np.ndarray, y: np.ndarray, kept: np.ndarray, bound: float) -> tuple[np.ndarray, float] | None:
    """A boundary with every kept point strictly on its side, or None."""
    if len(set(y[kept])) < 2:  # one class (or none): a boundary with every point on that side
        c = np.zeros(Z.shape[1])
        c[0] = 1.0
        side = y[kept][0] if kept.any() else -1.0
        return c, side * (bound + 1.0)  # |z.c| < bound: the bias decides
    v = separable(Z[kept], y[kept])
    return None if v is None else (v[:-1], float(v[-1]))


def _accuracy(X: np.ndarray, weights: np.ndarray, bias: float, positive: np.ndarray) -> float:
    return float(((X @ weights + bias > 0) == positive).mean())
