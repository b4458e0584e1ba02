"""The page's own copies of the models' facts (alphabet, vowels, limits) are the models'.

The page builds its tiles and form limits before its first answer from the server arrives, so it
keeps these facts in its source; this test is what keeps them the models' (as the README's
configuration table is checked against voweler/settings.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from voweler.models.experiment import MAX_NAME_LENGTH
from voweler.models.perceptron import ALPHABET, MAX_DIM, MAX_LEARNING_RATE, MAX_SEED, MIN_DIM, VOWELS
from voweler.services.perceptron import MAX_LETTERS

STATIC = Path(__file__).resolve().parent.parent / "static"
SCRIPT = (STATIC / "js" / "perceptron.js").read_text()
PAGE = (STATIC / "index.html").read_text()


def constant(name: str) -> str:
    return re.search(rf"^const {name} = \"?([^\";]+)\"?;", SCRIPT, re.M).group(1)


def limits(input_id: str) -> tuple[str, str]:
    tag = re.search(rf'<input id="{input_id}"[^>]*>', PAGE).group(0)
    return re.search(r'min="([^"]+)"', tag).group(1), re.search(r'max="([^"]+)"', tag).group(1)


def test_the_page_s_alphabet_and_letter_limit_are_the_models():
    assert (constant("ALPHABET"), constant("VOWELS"), int(constant("MAX_LETTERS"))) == (ALPHABET, VOWELS, MAX_LETTERS)
    assert limits("random-count") == ("1", str(MAX_LETTERS))


def test_the_page_s_form_limits_are_the_models():
    assert limits("reset-dim") == (str(MIN_DIM), str(MAX_DIM))
    assert limits("reset-seed") == ("0", str(MAX_SEED))
    assert limits("reset-rate") == ("0", f"{MAX_LEARNING_RATE:g}")
    assert re.search(r'<input id="arm-name"[^>]*maxlength="(\d+)"', PAGE).group(1) == str(MAX_NAME_LENGTH)
