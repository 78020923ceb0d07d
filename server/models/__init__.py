"""The domain: principals own projects and tags; projects own tasks; tasks carry tags."""

from server.models.base import Base
from server.models.principal import ApiToken, Principal
from server.models.project import Project
from server.models.tag import Tag, task_tags
from server.models.task import Task, TaskStatus

__all__ = ["ApiToken", "Base", "Principal", "Project", "Tag", "Task", "TaskStatus", "task_tags"]
