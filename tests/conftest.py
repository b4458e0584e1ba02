"""Shared test setup. Tests marked ``uwsgi`` start real uWSGI deployments (voweler.deployment)."""

# Apps that only import under uWSGI; the tests start them with `uwsgi --module`.
collect_ignore = ["uwsgi_apps"]
