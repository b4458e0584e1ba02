"""Online-learning models: pure numpy, seeded, deterministic, unaware of Flask or uWSGI.

Every model follows one pattern so that the state layer can share it between processes:
``to_state()`` returns plain values and numpy arrays, ``Model.from_state(state)`` rebuilds it.

- perceptron.py (with lda.py, optimum.py: the best straight boundary, and robustness.py: induced
  error analysis): the vowel perceptron.
- The Thompson-sampling bandit for A/B tests, from what changes rarely to what changes on every
  request: experiment.py (:class:`Experiment`: which arms are tested and their priors; the
  state layer stores it, the counts of impressions and clicks live beside it, indexed by arm
  uid), posterior.py (:class:`Posterior`: the arms with their counts; each arm's CTR has a
  Beta posterior, summaries, win probabilities and Thompson draws), choices.py
  (:class:`ChoiceQueue`: Thompson choices drawn ahead in batches for a web worker), and
  beta.py (the Beta maths: credible intervals and win probabilities).
- Names: markov.py (:class:`MarkovChain`, character chains of order 1-3 with exact pattern
  completion) and names.py (the shipped corpora in corpora/, and :class:`NameBook`, what is shared).
"""

from voweler.models.choices import ChoiceQueue
from voweler.models.experiment import (
    DEFAULT_ARMS,
    DEFAULT_PRIOR_CTR,
    DEFAULT_PRIOR_IMPRESSIONS,
    MAX_ARMS,
    MAX_NAME_LENGTH,
    MAX_PRIOR_IMPRESSIONS,
    NEW_ARM_IMPRESSIONS,
    Arm,
    ArmConflict,
    Experiment,
    ExperimentError,
    UnknownArm,
    check_arm_name,
    check_prior,
)
from voweler.models.markov import MarkovChain
from voweler.models.names import NameBook
from voweler.models.perceptron import Perceptron
from voweler.models.posterior import Posterior, thompson_choices

__all__ = [
    "DEFAULT_ARMS",
    "DEFAULT_PRIOR_CTR",
    "DEFAULT_PRIOR_IMPRESSIONS",
    "MAX_ARMS",
    "MAX_NAME_LENGTH",
    "MAX_PRIOR_IMPRESSIONS",
    "NEW_ARM_IMPRESSIONS",
    "Arm",
    "ArmConflict",
    "ChoiceQueue",
    "Experiment",
    "ExperimentError",
    "MarkovChain",
    "NameBook",
    "Perceptron",
    "Posterior",
    "UnknownArm",
    "check_arm_name",
    "check_prior",
    "thompson_choices",
]
