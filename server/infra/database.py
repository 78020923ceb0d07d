"""Extension objects safe to share between apps, unbound: the factory binds them."""

from __future__ import annotations

from flask_sqlalchemy import SQLAlchemy

from server.models.base import Base

db = SQLAlchemy(model_class=Base)
