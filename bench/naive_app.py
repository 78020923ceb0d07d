"""The naive endpoint: a Flask-SQLAlchemy primary-key read, as a tutorial writes it (no cache,
no validation model, no middleware), behind the same server as the app (bench/hot_path.py)."""

import os

from flask import Flask, abort
from flask_sqlalchemy import SQLAlchemy

from server.wsgi_bridge import WSGIBridge

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["APP_DATABASE_URL"]
db = SQLAlchemy(app)


class Project(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "projects"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(200))
    description = db.Column(db.Text)


@app.get("/projects/<int:project_id>")
def read(project_id: int) -> dict[str, object]:
    project = db.session.get(Project, project_id) or abort(404)
    return {"id": project.id, "name": project.name, "description": project.description}


rsgi = WSGIBridge(app, threads=1, max_body=1 << 20, body_deadline=30, body_memory=512 << 20)
