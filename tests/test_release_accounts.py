"""tools/release_accounts.py: the state surgery that hands a pre-bootstrap main stack's service
accounts to the bootstrap (docs/day0.md) keeps every other resource and leaves no reference to a
released one, which `pulumi stack import` would refuse ("refers to missing resource")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.day0 import run_bootstrap
from tools import release_accounts

P = "urn:pulumi:prod::astro-gke-gpu::"
STACK = P + "pulumi:pulumi:Stack::astro-gke-gpu-prod"
NODES = P + "astro-gke-gpu:iam:NodeServiceAccount::astro-gpu-prod-nodes"
ACCOUNT = (
    P
    + "astro-gke-gpu:iam:NodeServiceAccount$gcp:serviceaccount/account:Account::astro-gpu-prod-nodes-sa"
)
LAUNCHER = P + "gcp:serviceaccount/account:Account::astro-gpu-prod-analytics-launcher"
CREATOR = P + "gcp:serviceaccount/iAMMember:IAMMember::astro-gpu-prod-analytics-astro-token-creator"
POOL = P + "gcp:container/nodePool:NodePool::astro-gpu-prod-l4"
BINDING = P + "gcp:projects/iAMMember:IAMMember::astro-gpu-prod-nodes-logging-logWriter"
EMAIL = "astro-gpu-prod-nodes@acme-ml-prod.iam.gserviceaccount.com"
KPO = "analytics-kpo@acme-ml-prod.iam.gserviceaccount.com"


def export() -> dict[str, Any]:
    return {
        "version": 3,
        "deployment": {
            "manifest": {"magic": "m", "version": "v3.200.0"},
            "resources": [
                {"urn": STACK, "custom": False, "type": "pulumi:pulumi:Stack"},
                {
                    "urn": NODES,
                    "custom": False,
                    "type": "astro-gke-gpu:iam:NodeServiceAccount",
                    "parent": STACK,
                },
                {
                    "urn": ACCOUNT,
                    "custom": True,
                    "type": "gcp:serviceaccount/account:Account",
                    "id": f"projects/acme-ml-prod/serviceAccounts/{EMAIL}",
                    "parent": NODES,
                    "protect": True,
                },
                {
                    "urn": LAUNCHER,
                    "custom": True,
                    "type": "gcp:serviceaccount/account:Account",
                    "id": f"projects/acme-ml-prod/serviceAccounts/{KPO}",
                    "parent": STACK,
                    "protect": True,
                },
                {
                    "urn": CREATOR,
                    "custom": True,
                    "type": "gcp:serviceaccount/iAMMember:IAMMember",
                    "parent": STACK,
                    "dependencies": [LAUNCHER],
                    "propertyDependencies": {"serviceAccountId": [LAUNCHER]},
                },
                {
                    "urn": POOL,
                    "custom": True,
                    "type": "gcp:container/nodePool:NodePool",
                    "parent": STACK,
                    "dependencies": [ACCOUNT, NODES],
                    "propertyDependencies": {"nodeConfig": [ACCOUNT], "cluster": []},
                },
                {
                    "urn": BINDING,
                    "custom": True,
                    "type": "gcp:projects/iAMMember:IAMMember",
                    "parent": NODES,
                    "dependencies": [ACCOUNT],
                    "propertyDependencies": {"member": [ACCOUNT]},
                    "deletedWith": ACCOUNT,
                },
            ],
        },
    }


def test_releases_the_accounts_and_grants_and_every_reference_to_them() -> None:
    new, gone = release_accounts.release(export())
    assert [r["urn"] for r in gone] == [ACCOUNT, LAUNCHER, CREATOR]
    resources = {r["urn"]: r for r in new["deployment"]["resources"]}
    assert list(resources) == [STACK, NODES, POOL, BINDING]
    assert resources[POOL]["dependencies"] == [NODES]
    assert resources[POOL]["propertyDependencies"] == {"nodeConfig": [], "cluster": []}
    assert resources[BINDING]["dependencies"] == []
    assert resources[BINDING]["propertyDependencies"] == {"member": []}
    assert "deletedWith" not in resources[BINDING]
    assert new["deployment"]["manifest"] == export()["deployment"]["manifest"]
    assert new["version"] == 3
    released = {u for u in (ACCOUNT, LAUNCHER, CREATOR)}
    assert released.isdisjoint(json.dumps(new["deployment"]["resources"]).split('"'))


def test_the_input_is_not_modified() -> None:
    before = export()
    release_accounts.release(before)
    assert before == export()


def test_refuses_pending_operations_on_a_released_resource() -> None:
    state = export()
    state["deployment"]["pending_operations"] = [
        {"resource": {"urn": LAUNCHER}, "type": "deleting"}
    ]
    with pytest.raises(release_accounts.ReleaseError, match="pending operations.*pulumi refresh"):
        release_accounts.release(state)


def test_refuses_a_child_of_a_released_resource() -> None:
    state = export()
    state["deployment"]["resources"].append(
        {"urn": P + "x:y:Z::child", "custom": True, "type": "x:y:Z", "parent": LAUNCHER}
    )
    with pytest.raises(release_accounts.ReleaseError, match="parented to a released"):
        release_accounts.release(state)


def test_cli_writes_the_state_and_prints_the_import_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(export()))
    assert release_accounts.main([str(before), str(after)]) == 0
    assert [r["urn"] for r in json.loads(after.read_text())["deployment"]["resources"]] == [
        STACK,
        NODES,
        POOL,
        BINDING,
    ]
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0] == f"released {ACCOUNT}  (import id: projects/acme-ml-prod/serviceAccounts/{EMAIL})"
    )
    assert out[2] == f"released {CREATOR}"


def test_cli_refuses_a_file_that_is_not_an_export(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"resources": []}))
    assert release_accounts.main([str(bad), str(tmp_path / "out.json")]) == 2
    assert not (tmp_path / "out.json").exists()


# A prod state from before the bootstrap owned the custom roles: the launcher role (under its old
# LauncherRole component), the XCom role, and the launcher's project grant that depends on it.
LAUNCHER_COMPONENT = P + "astro-gke-gpu:iam:LauncherRole::astro-gpu-prod-launcher"
LAUNCHER_ROLE = (
    P
    + "astro-gke-gpu:iam:LauncherRole$gcp:projects/iAMCustomRole:IAMCustomRole::astro-gpu-prod-launcher-role"
)
XCOM_ROLE = (
    P
    + "astro-gke-gpu:xcom:XComStorage$gcp:projects/iAMCustomRole:IAMCustomRole::astro-gpu-prod-xcom-role"
)
ACCESS = P + "gcp:projects/iAMMember:IAMMember::astro-gpu-prod-ml-training-cluster-access"
ROLE_IDS = {
    LAUNCHER_ROLE: "projects/acme-ml-prod/roles/astroKpoLauncher_astro_gpu_prod",
    XCOM_ROLE: "projects/acme-ml-prod/roles/astroXcomObjects_astro_gpu_prod",
}
TRAINING = "ml-training-kpo@acme-ml-prod.iam.gserviceaccount.com"


def export_with_roles() -> dict[str, Any]:
    state = export()
    resources = state["deployment"]["resources"]
    resources[3]["id"] = f"projects/acme-ml-prod/serviceAccounts/{TRAINING}"  # the prod launcher
    resources += [
        {"urn": LAUNCHER_COMPONENT, "custom": False, "type": "astro-gke-gpu:iam:LauncherRole"},
        {
            "urn": LAUNCHER_ROLE,
            "custom": True,
            "type": "gcp:projects/iAMCustomRole:IAMCustomRole",
            "id": ROLE_IDS[LAUNCHER_ROLE],
            "parent": LAUNCHER_COMPONENT,
        },
        {
            "urn": XCOM_ROLE,
            "custom": True,
            "type": "gcp:projects/iAMCustomRole:IAMCustomRole",
            "id": ROLE_IDS[XCOM_ROLE],
            "parent": STACK,
        },
        {
            "urn": ACCESS,
            "custom": True,
            "type": "gcp:projects/iAMMember:IAMMember",
            "parent": STACK,
            "dependencies": [LAUNCHER_ROLE],
            "propertyDependencies": {"role": [LAUNCHER_ROLE], "member": []},
        },
    ]
    return state


def test_releases_the_custom_roles_and_every_reference_to_them() -> None:
    new, gone = release_accounts.release(export_with_roles())
    assert [r["urn"] for r in gone] == [ACCOUNT, LAUNCHER, CREATOR, LAUNCHER_ROLE, XCOM_ROLE]
    resources = {r["urn"]: r for r in new["deployment"]["resources"]}
    assert list(resources) == [STACK, NODES, POOL, BINDING, LAUNCHER_COMPONENT, ACCESS]
    assert resources[ACCESS]["dependencies"] == []
    assert resources[ACCESS]["propertyDependencies"] == {"role": [], "member": []}
    assert LAUNCHER_ROLE not in json.dumps(new)
    assert XCOM_ROLE not in json.dumps(new)


def test_the_adopt_document_puts_each_account_and_role_where_the_bootstrap_declares_it() -> None:
    _, gone = release_accounts.release(export_with_roles())
    doc, unknown = release_accounts.adopt(gone, "prod", release_accounts.stack_platform("prod"))
    assert unknown == []
    assert doc == {
        "resources": [
            {
                "type": "astro-gke-gpu:day0:StackIdentities",
                "name": "identities-prod",
                "component": True,
            },
            {"type": "astro-gke-gpu:day0:StackRoles", "name": "roles-prod", "component": True},
            {
                "type": "gcp:serviceaccount/account:Account",
                "name": "identities-prod-nodes",
                "parent": "identities-prod",
                "id": f"projects/acme-ml-prod/serviceAccounts/{EMAIL}",
            },
            {
                "type": "gcp:serviceaccount/account:Account",
                "name": "identities-prod-ml-training-launcher",
                "parent": "identities-prod",
                "id": f"projects/acme-ml-prod/serviceAccounts/{TRAINING}",
            },
            {
                "type": "gcp:projects/iAMCustomRole:IAMCustomRole",
                "name": "roles-prod-launcher",
                "parent": "roles-prod",
                "id": ROLE_IDS[LAUNCHER_ROLE],
            },
            {
                "type": "gcp:projects/iAMCustomRole:IAMCustomRole",
                "name": "roles-prod-xcom",
                "parent": "roles-prod",
                "id": ROLE_IDS[XCOM_ROLE],
            },
        ]
    }


def test_the_adopt_names_match_the_bootstraps_registrations() -> None:
    """What `pulumi import` creates must be what the bootstrap declares, or its next `up` would
    delete the imported resource and create another (a role id is reserved 37 days)."""
    _, gone = release_accounts.release(export_with_roles())
    doc, _ = release_accounts.adopt(gone, "prod", release_accounts.stack_platform("prod"))
    boot = {(r.type, r.name): r for r in run_bootstrap().registrations}
    for entry in doc["resources"]:
        reg = boot[(entry["type"], entry["name"])]
        if "parent" in entry:
            assert reg.parent.endswith(f"::{entry['parent']}")
    roles = {r.name: r for r in boot.values() if r.type == release_accounts.CUSTOM_ROLE}
    assert {
        f"projects/{roles[n].inputs['project']}/roles/{roles[n].inputs['roleId']}"
        for n in ("roles-prod-launcher", "roles-prod-xcom")
    } == set(ROLE_IDS.values())


def test_a_released_resource_the_config_no_longer_names_is_not_adopted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = export_with_roles()
    state["deployment"]["resources"][3]["id"] = "projects/acme-ml-prod/serviceAccounts/gone@x"
    before, after, doc = tmp_path / "b.json", tmp_path / "a.json", tmp_path / "adopt.json"
    before.write_text(json.dumps(state))
    argv = [str(before), str(after), "--adopt", str(doc), "--stack", "prod"]
    assert release_accounts.main(argv) == 0
    names = [r["name"] for r in json.loads(doc.read_text())["resources"]]
    assert "identities-prod-ml-training-launcher" not in names
    assert "roles-prod-xcom" in names
    err = capsys.readouterr().err
    assert (
        "not adopted (the stack's config no longer names it): projects/acme-ml-prod/serviceAccounts/gone@x"
        in err
    )


def test_cli_adopt_needs_a_stack(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        release_accounts.main(["b.json", "a.json", "--adopt", str(tmp_path / "x.json")])
