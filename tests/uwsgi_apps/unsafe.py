"""voweler with a deliberately unsafe store: read, update and write with no transaction.

It is how the original design shared its model. tests/test_uwsgi_consistency.py runs the same
consistency check against it, to show that the check does catch lost updates.
"""

import contextlib

from voweler import create_app
from voweler.models import Perceptron
from voweler.services import services
from voweler.state import area_of
from voweler.state.sharedarea import SharedAreaStore


class UnsafeStore(SharedAreaStore):
    def _lock(self):
        return contextlib.nullcontext()  # no lock: concurrent writers overwrite each other


app = create_app()
services(app)["perceptron"].store = UnsafeStore.from_uwsgi(area_of("perceptron"), Perceptron)
