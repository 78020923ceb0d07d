"""The app with every request's statements in a transaction, as before safe requests read in
autocommit: bench/read_transactions.py's A side (served by bench/granian_target.py)."""

from server.infra import safe_requests

safe_requests.reads_only = lambda: False  # the session then binds the engine as it is

from server.rsgi import app  # noqa: E402

__all__ = ["app"]
