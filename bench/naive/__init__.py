"""Naive baseline: the original design, for comparison; loses updates by design.

``app.py`` is the app (run by ``uwsgi --ini bench/naive/uwsgi.ini``); ``json_state.py`` is how it
lays its state out, importable without uWSGI so that the bench can measure its size.
"""
