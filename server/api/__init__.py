"""The versioned JSON API: one blueprint per resource under /api/v1."""

from __future__ import annotations

from flask import Blueprint

from server.api import access, admin, projects, tags, tasks

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.register_blueprint(projects.bp)
bp.register_blueprint(tasks.bp)
bp.register_blueprint(tags.bp)
bp.register_blueprint(access.bp)
bp.register_blueprint(admin.bp)
