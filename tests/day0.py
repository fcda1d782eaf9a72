"""Shared helpers of the day-0 tests: the bootstrap program run under mocks, and the deploy
identity's bindings in a project, as IAM would hold them."""

from __future__ import annotations

from typing import Any

import pulumi

from offline import runner
from offline.iam_conditions import Binding
from offline.mocks import PROJECT_NUMBER, PlaceholderMocks

BOOTSTRAP = runner.ROOT / "bootstrap"
BOOT_KEY = "astro-gke-bootstrap:bootstrap"
DEPLOY = "serviceAccount:pulumi-deploy@acme-ml-ci.iam.gserviceaccount.com"
PREVIEW = "serviceAccount:pulumi-preview@acme-ml-ci.iam.gserviceaccount.com"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
NUMBER = PROJECT_NUMBER


def run_bootstrap(config: dict | None = None, **kwargs: object) -> runner.Run:
    return runner.run("ci", config=config, root=BOOTSTRAP, **kwargs)  # type: ignore[arg-type]


def role_permissions(boot: runner.Run) -> dict[str, frozenset[str]]:
    return {
        f"projects/{r.inputs['project']}/roles/{r.inputs['roleId']}": frozenset(
            r.inputs["permissions"]
        )
        for r in boot.of_type(CUSTOM_ROLE)
    }


def project_bindings(boot: runner.Run, project: str, member: str) -> list[Binding]:
    """`member`'s project-level bindings in `project`, each with its role's permissions."""
    roles = role_permissions(boot)
    out = []
    for r in boot.of_type(PROJECT_IAM):
        if r.inputs["project"] != project or r.inputs["member"] != member:
            continue
        cond = r.inputs.get("condition")
        out.append(Binding(roles[r.inputs["role"]], cond["expression"] if cond else None, r.name))
    return out


class InputsOnly(PlaceholderMocks):
    """A first `pulumi preview`: the provider computes nothing, every output is unknown (data
    source calls still answer: the engine runs invokes in a preview too)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return "", {k: v for k, v in args.inputs.items() if _known(v)}


def _known(value: Any) -> bool:
    """An input the program knows at preview (an output of another resource is unknown)."""
    if isinstance(value, dict):
        return all(_known(v) for v in value.values())
    if isinstance(value, list):
        return all(_known(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)
