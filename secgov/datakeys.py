"""The keys that encrypt secrets stored in the database (the users' TOTP secrets), kept outside it.

They come from SECGOV_DATA_KEYS (comma-separated) or, when it is unset, from the instance folder's
`data_keys` file (one key a line, created 0600 by `db upgrade`, and only while the database holds
no encrypted secret: a lost key is reported, never silently replaced). The first key encrypts; every key decrypts: that is how keys are rotated (a new key
first, `python -m secgov keys rotate`, then the old key dropped). The keys are Fernet keys
(AES-128-CBC with HMAC-SHA256: a stored value can be neither read nor altered without them).

A column of type `Sealed` is encrypted as it is written and decrypted as it is read, with the keys
of the engine it goes through (`attach`): the model's attribute holds the plain secret in Python.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine
from sqlalchemy.types import TypeDecorator

from secgov.config import instance_file

KEY_FILE = "data_keys"
ENVIRONMENT = "SECGOV_DATA_KEYS"

# A TOTP secret as SecGov stored it before it encrypted them: base32. A Fernet token never matches
# (it begins with "gAAAA", lower case).
_PLAIN = re.compile(r"[A-Z2-7]+=*")

# The engine's dialect carries its keys: SQLAlchemy hands a column type nothing else.
_ATTRIBUTE = "secgov_data_keys"


class DataKeyError(RuntimeError):
    """A secret cannot be encrypted or decrypted: no keys, a wrong key, or a value in plain text."""


def generate() -> str:
    """A new random key, in the form SECGOV_DATA_KEYS and the key file take."""
    return Fernet.generate_key().decode()


def is_plain(stored: str) -> bool:
    """Whether a stored value is a TOTP secret in plain text (written before encryption came)."""
    return bool(_PLAIN.fullmatch(stored))


def _parse(text: str, source: str) -> list[Fernet]:
    keys = [part for part in re.split(r"[\s,]+", text) if part]
    if not keys:
        raise DataKeyError(f"{source} holds no key")
    ring = []
    for number, key in enumerate(keys, 1):
        try:
            ring.append(Fernet(key))
        except ValueError:
            raise DataKeyError(
                f"{source}: key {number} is not a data key (make one with 'python -m secgov keys generate')"
            ) from None
    return ring


class DataKeys:
    """The keyring: from SECGOV_DATA_KEYS (read now), or from the key file (read on first use)."""

    def __init__(self, keys: str | None = None, *, file: Path | None = None) -> None:
        if keys is None and file is None:
            raise ValueError("DataKeys needs keys or a key file")
        self.source = ENVIRONMENT if keys is not None else str(file)
        self._file = file
        self._ring: list[Fernet] | None = _parse(keys, ENVIRONMENT) if keys is not None else None
        self._lock = threading.Lock()

    @classmethod
    def configured(cls, value: str | None, instance: Path) -> DataKeys:
        """The keys of SECGOV_DATA_KEYS when it is set, else those of instance/data_keys."""
        if value and value.strip():
            return cls(value)
        return cls(file=instance / KEY_FILE)

    def _keys(self, create: bool) -> list[Fernet]:
        if self._ring is None:
            with self._lock:
                file = self._file
                if self._ring is None and file is not None:
                    if not create and not file.exists():
                        # Never a new key made on the way: the secrets already stored were encrypted
                        # with the lost one, and `db upgrade` makes the first key before any is stored.
                        raise DataKeyError(
                            f"the data key file {file} is missing: restore it (or set {ENVIRONMENT}); on a"
                            " database that holds no encrypted secret yet, 'python -m secgov db upgrade' makes one"
                        )
                    self._ring = _parse(instance_file(file.parent, file.name, generate), self.source)
        return self._ring

    def missing_file(self) -> Path | None:
        """The key file, when the keys come from one that does not exist yet."""
        if self._file is None or self._file.exists():
            return None
        return self._file

    def ensure(self) -> None:
        """Make the key file when the keys come from one that is missing (`db upgrade` only)."""
        if self._file is not None:
            self._keys(create=True)

    def encrypt(self, plain: str) -> str:
        """plain, encrypted with the first key."""
        return self._keys(create=False)[0].encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The plain text of a stored value, with whichever key encrypted it."""
        try:
            return MultiFernet(self._keys(create=False)).decrypt(token.encode()).decode()
        except InvalidToken:
            raise self._unreadable(token) from None

    def rotate(self, token: str) -> str:
        """A stored value encrypted again with the first key."""
        try:
            return MultiFernet(self._keys(create=False)).rotate(token.encode()).decode()
        except InvalidToken:
            raise self._unreadable(token) from None

    def first_decrypts(self, token: str) -> bool:
        """Whether the first key alone decrypts a stored value (it needs no older key)."""
        try:
            self._keys(create=False)[0].decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def _unreadable(self, token: str) -> DataKeyError:
        if is_plain(token):
            return DataKeyError(
                "a TOTP secret is stored in plain text: run 'python -m secgov db upgrade' to encrypt it"
            )
        return DataKeyError(
            f"a secret stored in the database cannot be decrypted with the data keys of {self.source}: the key"
            " is wrong, or the key that encrypted it was removed before 'keys rotate'"
        )


def attach(engine: Engine, keys: DataKeys | None) -> None:
    """Let the engine's `Sealed` columns encrypt and decrypt with keys."""
    setattr(engine.dialect, _ATTRIBUTE, keys)


def keys_of(dialect: sa.Dialect) -> DataKeys:
    """The keys attached to an engine, by its dialect; an engine without keys refuses."""
    keys = getattr(dialect, _ATTRIBUTE, None)
    if keys is None:
        raise DataKeyError("this database engine has no data keys: a secret column can be neither read nor written")
    return keys


class Sealed(TypeDecorator):
    """A secret stored encrypted with the engine's data keys; Python sees the plain text."""

    # A Fernet token of a 64-character secret is 184 characters.
    impl = sa.String(255)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return keys_of(dialect).encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return keys_of(dialect).decrypt(value)
