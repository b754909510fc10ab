"""The command-line frame, shared by the core's commands and the domains' own: the app of the
run, messages and exit codes, acting as the system or as a user, and one write transaction per
command whose refusals are recorded like the web's."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
from flask import Flask
from sqlmodel import Session

from secgov import audit, auth
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.db import new_session
from secgov.errors import ServiceError


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr and exit with code (2: bad input or refused)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def app_of(ctx: click.Context) -> Flask:
    """The app of this command line run: built on first use by the main group's run object."""
    return ctx.find_root().obj.app()


def config_of(app: Flask) -> ServiceConfig:
    return ServiceConfig.from_mapping(app.config)


@contextmanager
def transaction(app: Flask) -> Iterator[Session]:
    """One write transaction: committed on success; rolled back on error, a refusal recorded."""
    session = new_session(app.extensions["secgov_engine"], write=True)
    try:
        session.begin()
        try:
            yield session
        except ServiceError as exc:
            audit.settle(session, exc)
            raise
        except BaseException:
            session.rollback()
            raise
        session.commit()
    finally:
        session.close()


def acting(session: Session, username: str | None, allowed: tuple[str, ...] | None = None) -> Actor:
    """The actor of --as USERNAME (that user, with their roles checked and their scope), or the
    system (the whole city) without it."""
    if username is None:
        return Actor.system("cli")
    user = auth.find_user(session, username)
    if user is None or user.disabled:
        fail(f"no active user named {username}", 2)
    if allowed is not None and not user.roles & set(allowed):
        fail(f"{user.username} may not do this (roles needed: {', '.join(sorted(allowed))})", 2)
    return Actor.of(user, "cli")
