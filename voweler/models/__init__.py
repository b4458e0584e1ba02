"""Online-learning models: pure numpy, seeded, deterministic, unaware of Flask or uWSGI.

Every model follows one pattern so that the state layer can share it between processes:
``to_state()`` returns plain values and numpy arrays, ``Model.from_state(state)`` rebuilds it.
"""

from voweler.models.bandit import (
    MAX_ARMS,
    Arm,
    ArmConflict,
    Bandit,
    ChoiceQueue,
    Experiment,
    ExperimentError,
    Posterior,
    UnknownArm,
)
from voweler.models.perceptron import Perceptron

__all__ = [
    "MAX_ARMS",
    "Arm",
    "ArmConflict",
    "Bandit",
    "ChoiceQueue",
    "Experiment",
    "ExperimentError",
    "Perceptron",
    "Posterior",
    "UnknownArm",
]
