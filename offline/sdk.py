"""Provider SDK packages that import a resource module the first time the program names one of its members.

A generated provider package (`pulumi_cloudflare`, and each service package of `pulumi_gcp` such as
`pulumi_gcp.compute`) imports every one of its resource modules in its `__init__`: hundreds of modules and thousands
of classes, most of a second per package, for a plan that uses a dozen of them. `install()` makes those packages
import a member's module when the member is first read (a module `__getattr__`, PEP 562). Everything else in the
package's `__init__` runs as written (the resource type registrations, the lazy `config` module), and the classes are
the SDK's own, from its own files: only when each file is imported changes. The offline engine installs it, so the
plan, the diff and the tests import only the provider modules their programs use; `pulumi up` never loads it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import re
import sys
import threading
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LAZY = ("pulumi_cloudflare", "pulumi_gcp.")  # a package, or every package under a prefix
STAR = re.compile(r"^from \.(\w+) import \*\n", re.MULTILINE)
OUTPUTS = re.compile(r"^from \. import outputs\n", re.MULTILINE)
ALL = re.compile(r"^__all__ = \[([^\]]*)\]", re.MULTILINE)
CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
FALLBACK = ("_inputs", "outputs")  # where a name that is not a resource module's lives (nested input and output types)


def _wanted(name: str) -> bool:
    return any(name == p or (p.endswith(".") and name.startswith(p) and name.count(".") == 1) for p in LAZY)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not _wanted(fullname):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not spec.submodule_search_locations:
            return None
        spec.loader = _Loader(Path(spec.origin))
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, init: Path) -> None:
        self.init = init

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default module

    def exec_module(self, module: types.ModuleType) -> None:
        source = self.init.read_text()
        starred = STAR.findall(source)
        if not starred:
            exec(compile(source, str(self.init), "exec"), module.__dict__)
            return
        trimmed = OUTPUTS.sub("", STAR.sub("", source))
        exec(compile(trimmed, str(self.init), "exec"), module.__dict__)
        members = _Members(module.__name__, self.init.parent, [m for m in starred if m not in FALLBACK])
        module.__getattr__ = members.get  # type: ignore[method-assign]
        module.__dir__ = members.names  # type: ignore[method-assign]


def _snake(name: str) -> str:
    return CAMEL.sub("_", name).lower()


class _Members:
    """Which module of a package defines each of its members, found from the member's name and, failing that, from
    the `__all__` of every module the package's `__init__` star-imports."""

    def __init__(self, package: str, directory: Path, modules: list[str]) -> None:
        self.package = package
        self.directory = directory
        self.modules = modules
        self.known = set(modules)
        self.index: dict[str, str] | None = None
        self.lock = threading.RLock()

    def _guesses(self, name: str) -> list[str]:
        stem = name.removeprefix("Awaitable")
        for suffix in ("ArgsDict", "Args", "Result", "_output"):
            stem = stem.removesuffix(suffix)
        return [m for m in dict.fromkeys((name, _snake(stem))) if m in self.known]

    def _scan(self) -> dict[str, str]:
        if self.index is None:
            index: dict[str, str] = {}
            for module in self.modules:
                head = (self.directory / f"{module}.py").read_text()[:4096]
                found = ALL.search(head)
                for member in re.findall(r"'(\w+)'", found.group(1)) if found else []:
                    index.setdefault(member, module)
            self.index = index
        return self.index

    def _load(self, module: str, name: str) -> Any:
        """`name` from one module, once the module's exports are the package's, as `from .module import *` makes
        them (a function shadows the module it shares its name with: `get_project`)."""
        loaded = importlib.import_module(f"{self.package}.{module}")
        if module in FALLBACK and module == name:
            return loaded
        if module not in FALLBACK:
            package = sys.modules[self.package]
            for member in getattr(loaded, "__all__", ()):
                setattr(package, member, getattr(loaded, member))
        value = getattr(loaded, name, _MISSING)
        return loaded if value is _MISSING and module == name else value  # the module, as an attribute of its package

    def get(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        with self.lock:
            package = sys.modules[self.package]
            if name in package.__dict__:
                return package.__dict__[name]
            tried = [name] if name in FALLBACK else [*self._guesses(name), *FALLBACK]
            for module in tried:
                value = self._load(module, name)
                if value is not _MISSING:
                    setattr(package, name, value)
                    return value
            indexed = None if name in FALLBACK else self._scan().get(name)  # a name its module's name does not say
            if indexed and indexed not in tried:
                value = self._load(indexed, name)
                if value is not _MISSING:
                    setattr(package, name, value)
                    return value
        raise AttributeError(f"module {self.package!r} has no attribute {name!r}")

    def names(self) -> list[str]:
        """What `dir()` lists: everything the SDK's own package would hold (reads the nested types' whole list)."""
        nested = self.directory / "_inputs.py"
        found = ALL.search(nested.read_text()) if nested.exists() else None
        inputs = re.findall(r"'(\w+)'", found.group(1)) if found else []
        return sorted({*sys.modules[self.package].__dict__, *self._scan(), *inputs, *self.modules, "outputs"})


_MISSING = object()


def install() -> None:
    """Put the lazy loader first on the import path (once); packages already imported stay as they are."""
    finder = next((f for f in sys.meta_path if isinstance(f, _Finder)), None)
    if finder is None:
        sys.meta_path.insert(0, _Finder())
