"""The change review's owner steps (offline/review_roles.py): every custom role whose content
changes between BASE and the working tree is an owner's bootstrap `pulumi up`, and a BASE from
before the bootstrap owned the roles shows them as hurting deletes until the state is migrated."""

from __future__ import annotations

import dataclasses
from typing import Any

from offline import review, review_roles, runner
from offline.mocks import Registration

DEV_LAUNCHER = "projects/acme-ml-dev/roles/astroKpoLauncher_astro_gpu_dev"
OWNER_UP = "an owner's bootstrap `pulumi up` (cd bootstrap && pulumi up), before this deploys"


def dev_roles() -> list[dict[str, Any]]:
    return runner.custom_roles("dev")


def test_the_dev_stack_has_its_launcher_role_and_no_step_without_change(dev: runner.Run) -> None:
    assert dev_roles() == [
        {
            "name": DEV_LAUNCHER,
            "title": "KPO launcher for astro-gpu-dev",
            "description": "Authenticate to the GKE cluster only; pod permissions are namespaced RBAC.",
            "permissions": ["container.clusters.connect", "container.clusters.get"],
            "stage": "GA",
        }
    ]
    regs = dev.registrations
    assert review_roles.owner_steps(regs, dev_roles(), regs, dev_roles()) == []


def test_a_code_change_to_a_role_is_an_owner_step(dev: runner.Run) -> None:
    head = [{**r, "permissions": [*r["permissions"], "container.pods.list"]} for r in dev_roles()]
    head[0]["title"] = "changed"
    steps = review_roles.owner_steps(dev.registrations, dev_roles(), dev.registrations, head)
    assert steps == [
        f"custom role {DEV_LAUNCHER}: title 'KPO launcher for astro-gpu-dev' -> 'changed'; "
        f"permissions +container.pods.list: apply it with {OWNER_UP}"
    ]


def test_a_new_and_a_removed_role_are_owner_steps(dev: runner.Run) -> None:
    regs = dev.registrations
    assert review_roles.owner_steps(regs, [], regs, dev_roles()) == [
        f"custom role {DEV_LAUNCHER} is new: create it with {OWNER_UP}"
    ]
    assert review_roles.owner_steps(regs, dev_roles(), regs, []) == [
        f"custom role {DEV_LAUNCHER} is no longer granted: the bootstrap's next `pulumi up` "
        "deletes it (it is protected: `pulumi state unprotect` it there first, on purpose)"
    ]


def pre_bootstrap(dev: runner.Run, permissions: list[str]) -> list[Registration]:
    """dev as a commit from before the bootstrap owned the roles registered it: the launcher role
    in the main stack's own registrations (its inputs then, its URN then)."""
    role = Registration(
        type=review_roles.CUSTOM_ROLE,
        name="astro-gpu-dev-launcher-role",
        urn="urn:pulumi:dev::astro-gke-gpu::astro-gke-gpu:iam:LauncherRole"
        "$gcp:projects/iAMCustomRole:IAMCustomRole::astro-gpu-dev-launcher-role",
        custom=True,
        inputs={
            "project": "acme-ml-dev",
            "roleId": "astroKpoLauncher_astro_gpu_dev",
            "title": "KPO launcher for astro-gpu-dev",
            "description": "Authenticate to the GKE cluster only; pod permissions are namespaced RBAC.",
            "permissions": permissions,
            "stage": "GA",
        },
        parent="",
        outputs={},
        dependencies=[],
        property_dependencies={},
        protect=False,
        ignore_changes=[],
        provider="",
    )
    return [*dev.registrations, role]


def test_a_base_from_before_the_bootstrap_owned_the_roles(dev: runner.Run) -> None:
    same = ["container.clusters.get", "container.clusters.connect"]
    base = pre_bootstrap(dev, same)
    # The same content, now in the bootstrap: no owner step, but the main stack's delete hurts
    # (it would delete the role the launchers' grants name) until the state is migrated.
    assert review_roles.owner_steps(base, None, dev.registrations, dev_roles()) == []
    checked = review.review(base, dev.registrations, stack="dev", prod_stacks=["prod"])
    assert [(c.op, c.hurts) for c in checked.hurting] == [
        ("delete", "custom role astroKpoLauncher_astro_gpu_dev")
    ]
    wider = pre_bootstrap(dev, ["container.clusters.get"])
    assert review_roles.owner_steps(wider, None, dev.registrations, dev_roles()) == [
        f"custom role {DEV_LAUNCHER}: permissions +container.clusters.connect: apply it with "
        f"{OWNER_UP}"
    ]


def test_a_role_the_main_program_registers_itself_is_flagged(dev: runner.Run) -> None:
    head = pre_bootstrap(dev, ["container.clusters.get", "container.clusters.connect"])
    steps = review_roles.owner_steps(dev.registrations, dev_roles(), head, dev_roles())
    assert steps == [
        f"custom role {DEV_LAUNCHER} is registered by this program: the deploy identity holds "
        "no iam.roles.*, so `pulumi up` in CI fails on it; create it in the bootstrap "
        "(components/custom_roles.py)"
    ]


def test_the_text_review_lists_the_owner_steps(dev: runner.Run) -> None:
    checked = dataclasses.replace(
        review.review(dev.registrations, dev.registrations, stack="dev", prod_stacks=[]),
        owner_steps=["custom role x: apply it"],
    )
    lines = review.render_text(checked).splitlines()
    assert lines[-2:] == [
        "Owner steps (the deploy identity cannot do these; docs/day0.md, Custom roles):",
        "    custom role x: apply it",
    ]
    assert review.to_json(checked)["review"]["owner_steps"] == ["custom role x: apply it"]
