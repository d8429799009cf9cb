"""Names -> classes, for models and tasks: one registry each, filled where the classes are defined.

A built-in class registers itself with `@MODELS.register("lstm")` in its own module; the package
imports each of its modules once, so adding one is adding a file. Anything else is named by its
import path, `package.module.Class` (or `package.module:Class` on the command line), and is found
without registering: "bring your own model".

Names become folder and DVC stage names (`runs/adding-200/lstm/`, `train@lstm-adding-200`), so both
forms are held to characters that are safe in a path and cannot climb out of it: registry names
are lower-case letters, digits and `-`; import paths are Python identifiers joined by dots. A `:`
is accepted on the command line and written as a dot: it is not portable in a folder name.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from typing import Callable, Generic, TypeVar

from .config import ConfigError

T = TypeVar("T")
REGISTRY_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
IMPORT_PATH = re.compile(rf"{IDENTIFIER}(\.{IDENTIFIER})*[.:]{IDENTIFIER}")


def is_import_path(spec: str) -> bool:
    return bool(IMPORT_PATH.fullmatch(spec))


def import_object(path: str, key: str):
    """`pkg.module.Name` -> the object. The working directory and its `src/` are searched after the
    installed packages, as `python -m` would, so a package of the project's own needs no install."""
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    for folder in (Path.cwd(), Path.cwd() / "src"):
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{key}: cannot import module {module_name!r} of {path!r} ({err})") from None
    if not hasattr(module, attr):
        raise ConfigError(f"{key}: module {module_name!r} has no {attr!r}")
    return getattr(module, attr)


def source_sha256(cls: type) -> str:
    """sha256 (16 hex digits) of the file that defines `cls`: a change to it reruns its cells."""
    try:
        return hashlib.sha256(Path(inspect.getsourcefile(cls) or "").read_bytes()).hexdigest()[:16]
    except (OSError, TypeError):
        return ""


class Registry(Generic[T]):
    """Registered classes by name, plus any class reachable by import path.

    kind: what the entries are, for messages ("model", "task"); base: the class every entry must
    derive from; key: the config key that names one, for messages.
    """

    def __init__(self, kind: str, base: type, key: str):
        self.kind, self.base, self.key = kind, base, key
        self.entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        if not REGISTRY_NAME.fullmatch(name):
            raise ValueError(f"{self.kind} name {name!r}: lower-case letters, digits and '-' only")

        def add(cls: type[T]) -> type[T]:
            if name in self.entries and self.entries[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self.entries[name] = cls
            return cls
        return add

    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def allowed(self) -> str:
        return f"{', '.join(self.entries)}, or an import path package.module.Class"

    def canonical(self, spec: object, key: str | None = None) -> str:
        """The one spelling of a name: a registry name, or a dotted import path."""
        key = key or self.key
        if isinstance(spec, str) and spec in self.entries:
            return spec
        if isinstance(spec, str) and is_import_path(spec):
            return spec.replace(":", ".")
        raise ConfigError(f"{key}: unknown {self.kind} {spec!r}; allowed: {self.allowed()}")

    def resolve(self, spec: object, key: str | None = None) -> type[T]:
        key = key or self.key
        name = self.canonical(spec, key)
        if name in self.entries:
            return self.entries[name]
        cls = import_object(name, key)
        if not (inspect.isclass(cls) and issubclass(cls, self.base)):
            raise ConfigError(f"{key}: {name!r} is not a {self.base.__module__}.{self.base.__qualname__} class")
        return cls

    def source_sha256(self, spec: str, key: str | None = None) -> str:
        """Empty for a registry name (the package's code is a DVC dependency); the defining file's
        hash for an import path."""
        name = self.canonical(spec, key)
        return "" if name in self.entries else source_sha256(self.resolve(name, key))


def import_submodules(package: str, path: list[str]) -> None:
    """Import every module of a package once: each registers what it defines."""
    for info in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{info.name}")
