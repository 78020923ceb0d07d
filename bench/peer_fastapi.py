"""The peer users would pick instead: a minimal FastAPI app on uvicorn (uvloop, httptools).

It serves the same two reads as the server's GET /api/v1/projects/<id>: from Redis (GET, the
JSON stored as is) and from PostgreSQL (SQLAlchemy primary-key read, a pydantic model out),
the way a FastAPI user writes them: async SQLAlchemy on asyncpg, redis.asyncio. Run by
bench/hot_path.py: ``uvicorn --workers 2 --loop uvloop --http httptools peer_fastapi:app``
with APP_DATABASE_URL and APP_REDIS_URL set. Only the bench extra installs FastAPI.
"""

from __future__ import annotations

import os
from datetime import datetime

from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis
from sqlalchemy import String, Text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TTL = 30


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    version: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    version: int
    created_at: datetime
    updated_at: datetime


url = os.environ["APP_DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql+asyncpg://")
engine = create_async_engine(url, pool_size=5)
sessions = async_sessionmaker(engine, expire_on_commit=False)
redis = Redis.from_url(os.environ["APP_REDIS_URL"])
app = FastAPI()


async def read_project(project_id: int) -> ProjectOut:
    async with sessions() as session:
        project = await session.get(Project, project_id)
    if project is None:
        raise HTTPException(404)
    return ProjectOut.model_validate(project)


@app.get("/db/{project_id}")
async def db_read(project_id: int) -> ProjectOut:
    return await read_project(project_id)


@app.get("/cached/{project_id}")
async def cached_read(project_id: int) -> Response:
    key = f"peer:project:{project_id}"
    body = await redis.get(key)
    if body is None:
        body = (await read_project(project_id)).model_dump_json().encode()
        await redis.set(key, body, ex=TTL)
    return Response(body, media_type="application/json")
