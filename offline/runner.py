"""Run the real stack program (`__main__.py`) offline under Pulumi mocks, with a stack's real
config file, and return what it registered and exported."""

from __future__ import annotations

import json
import os
import runpy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from offline.mocks import PlaceholderMocks, RecordingMonitor, Registration

ROOT = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]


def project_name(root: Path = ROOT) -> str:
    """The `name:` of a program's Pulumi.yaml."""
    return str(yaml.safe_load((root / "Pulumi.yaml").read_text())["name"])


def stack_config(stack: str, path: Path | None = None, root: Path = ROOT) -> dict[str, Any]:
    """The `config:` map of Pulumi.<stack>.yaml in `root` (or of `path`), keys fully qualified as
    the CLI passes them."""
    path = path or root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name} (stacks: {', '.join(stacks(root))})")
    raw = yaml.safe_load(path.read_text()) or {}
    project = project_name(root)
    out: dict[str, Any] = {}
    for key, value in (raw.get("config") or {}).items():
        out[key if ":" in key else f"{project}:{key}"] = value
    return out


def custom_roles(
    stack: str, config: dict[str, Any] | None = None, root: Path = ROOT
) -> list[dict[str, Any]]:
    """The custom roles the bootstrap creates for this main stack (components/custom_roles.py),
    as offline/review_roles.py compares them: what `make preview BASE=<ref>` checks for owner
    steps. Imported from `root`'s own components/ (the program run from that tree)."""
    from components import custom_roles as roles
    from components.config import CONFIG_KEY, load

    cfg = stack_config(stack, root=root) if config is None else config
    platform = cfg.get(f"{project_name(root)}:{CONFIG_KEY}")
    return [{"name": r.name, **r.content()} for r in roles.stack_roles(load(platform))]


def stacks(root: Path = ROOT) -> list[str]:
    return sorted(p.name.split(".")[1] for p in root.glob("Pulumi.*.yaml"))


def _wire(value: Any) -> str:
    # The CLI hands the program every value as a string; objects as JSON.
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class Run:
    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise AssertionError(
                f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
            )
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run(
    stack: str = "dev",
    config: dict[str, Any] | None = None,
    mocks: PlaceholderMocks | None = None,
    monitor: RecordingMonitor | None = None,
    on_register: Callable[[Registration], None] | None = None,
    root: Path = ROOT,
    preview: bool = False,
) -> Run:
    """Run `root`/__main__.py (this repository's program unless told otherwise) for `stack`.
    `config` replaces the stack file's config map when given. Pass `monitor` to inspect what was
    registered even when the program raises. The program imports its own modules (components/)
    from `root`: put `root` first on sys.path to run another tree's program. `preview=True`
    runs it as a first `pulumi preview` does (pass mocks that return only the inputs)."""
    cfg = stack_config(stack, root=root) if config is None else config
    mocks = mocks or PlaceholderMocks()
    monitor = monitor or RecordingMonitor(mocks, on_register)
    pulumi_settings.ROOT.set(None)  # a fresh Stack resource per run
    pulumi.runtime.set_mocks(
        mocks, project=project_name(root), stack=stack, preview=preview, monitor=monitor
    )
    pulumi.runtime.set_all_config({k: _wire(v) for k, v in cfg.items()}, [])
    stack_resource = pulumi_settings.get_root_resource()
    assert stack_resource is not None

    def program() -> None:
        with _cwd(root):
            runpy.run_path(str(root / "__main__.py"), run_name="__main__")

    pulumi_settings.SETTINGS.rpc_manager.clear()
    _sync_await(run_pulumi_func(program))

    exported: dict[str, pulumi.Output[Any]] = dict(getattr(stack_resource, "outputs", {}))
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, out in exported.items():
        out = pulumi.Output.from_input(out)
        values[key] = _sync_await(out.future())
        if _sync_await(out.is_secret()):
            secrets.add(key)
    return Run(stack, monitor.registrations, values, secrets)
