"""No cookie sessions: the API is stateless, so no request pays to build a cookie signer."""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin


class NoSessions(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return None  # Flask then uses its NullSession, which refuses writes

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None
