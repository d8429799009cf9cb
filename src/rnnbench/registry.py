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

import ast
import difflib
import hashlib
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

from .config import ConfigError
from .layout import is_shared_training_code

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


def source_files(cls: type) -> list[Path]:
    """The files of `cls`'s own code: the module that defines it and, followed through their import
    statements, every module they import from the same top-level package or from rnnbench, minus
    the shared training core (layout.py: a DVC dependency of every stage that trains)."""
    start = inspect.getsourcefile(cls)
    if not start:
        return []
    families = {cls.__module__.split(".")[0], __name__.split(".")[0]}
    seen: dict[Path, None] = {}
    todo = [(cls.__module__, Path(start).resolve())]
    while todo:
        module, path = todo.pop()
        if path in seen or is_shared_training_code(path):
            continue
        seen[path] = None
        for name in imported_modules(module, path):
            found = sys.modules.get(name)
            file = getattr(found, "__file__", None)
            if name.split(".")[0] in families and file:
                todo.append((name, Path(file).resolve()))
    return sorted(seen)


def imported_modules(module: str, path: Path) -> list[str]:
    """Absolute names of the modules `path` imports (for `from m import x`: m, and m.x where x is a
    module), read from its syntax tree, so nothing is executed to find them."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) if node.level else ""
            target = ".".join(part for part in (base, node.module or "") if part)
            names += [target, *(f"{target}.{alias.name}" for alias in node.names)]
    return names


def source_sha256(cls: type) -> str:
    """sha256 (16 hex digits) of `cls`'s own code (source_files, by package-relative path and
    bytes): a change to it reruns exactly the cells that use it."""
    try:
        files = source_files(cls)
        digest = hashlib.sha256()
        for path in files:
            top = next(parent for parent in path.parents if not (parent / "__init__.py").is_file())
            digest.update(path.relative_to(top).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:16] if files else ""
    except (OSError, TypeError, SyntaxError):
        return ""


class Registry(Generic[T]):
    """Registered classes by name, plus any class reachable by import path.

    kind: what the entries are, for messages ("model", "task"); base: the class every entry must
    derive from; key: the config key that names one, for messages.
    """

    def __init__(self, kind: str, base: type, key: str):
        self.kind, self.base, self.key = kind, base, key
        self.entries: dict[str, type[T]] = {}
        self.fixed_options: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **fixed_options: Any) -> Callable[[type[T]], type[T]]:
        """`fixed_options`: options of the class that this name fixes (`lstm-fb0`: the LSTM with
        forget_bias 0), so that a variant that differs by one number is a name, not a class."""
        if not REGISTRY_NAME.fullmatch(name):
            raise ValueError(f"{self.kind} name {name!r}: lower-case letters, digits and '-' only")

        def add(cls: type[T]) -> type[T]:
            if name in self.entries and self.entries[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self.entries[name] = cls
            if fixed_options:
                self.fixed_options[name] = dict(fixed_options)
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
        close = difflib.get_close_matches(spec, self.entries, n=1, cutoff=0.6) if isinstance(spec, str) else []
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"{key}: unknown {self.kind} {spec!r}{hint}; allowed: {self.allowed()}")

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
        """The hash of the entry's own code (module-level source_sha256), built in or not."""
        return source_sha256(self.resolve(spec, key))


def import_submodules(package: str, path: list[str]) -> None:
    """Import every module of a package once: each registers what it defines. A module that fails
    to import costs only what it defines: one line names its file and the cause, and every other
    model, task and command still works (a study that names its entries then refuses them as unknown)."""
    for info in pkgutil.iter_modules(path):
        try:
            importlib.import_module(f"{package}.{info.name}")
        except Exception as err:  # noqa: BLE001 - any error in a contributor's file, reported, not raised
            where = Path(info.module_finder.path) / f"{info.name}{'' if info.ispkg else '.py'}"
            cause = " ".join(str(err).split())
            print(f"rnnbench: skipped {where} ({type(err).__name__}: {cause}); what it defines is unavailable",
                  file=sys.stderr)
