"""WSGI entry point: ``gunicorn -c python:server.gunicorn_conf server.wsgi:app``."""

from server.cli import app_or_exit

app = app_or_exit()
