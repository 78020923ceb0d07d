"""WSGI entry point: ``gunicorn -c python:server.gunicorn_conf server.wsgi:app``."""

from server.startup import collector_paused

with collector_paused():
    from server.app import create_app_or_exit

    app = create_app_or_exit()
