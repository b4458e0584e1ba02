"""The flusher: a uWSGI mule that snapshots the durable SharedAreas (see voweler.state.durable).

uwsgi.ini starts it with ``mule = voweler/state/flusher.py``; uWSGI respawns it if it dies.
"""

if __name__ == "__main__":  # run by the mule; importing this module does nothing
    from voweler.state.durable import run_flusher

    run_flusher()
