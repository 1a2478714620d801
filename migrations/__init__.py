"""Podium's Alembic migrations, shipped in the wheel so that `podium db upgrade` works from an install.

`app.db_migrations` finds this folder with importlib.resources; env.py, script.py.mako and versions/ travel
as package data.
"""
