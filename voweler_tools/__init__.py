"""Tools for voweler, kept apart from the runtime path: the web app never imports this package.

``client``      the one JSON-over-HTTP client (requests) of the simulator, the benches and the tests
``deployment``  starts a real ``uwsgi --ini uwsgi.ini`` of this checkout on free ports
``simulate``    the ``voweler-simulate`` command; ``simulation`` runs it offline, ``drive`` over HTTP
``checks``      the consistency checks shared by ``bench/consistency.py`` and the tests

They may import voweler (its models, ``voweler.uwsgi_stats``); voweler imports none of them.
"""
