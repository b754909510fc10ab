"""The demo city's assessments and risks (placeholder)."""


def load(session, actor, config) -> None:
    return None
