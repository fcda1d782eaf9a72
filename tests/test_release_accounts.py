"""tools/release_accounts.py: the state surgery that hands a pre-bootstrap main stack's service
accounts to the bootstrap (docs/day0.md) keeps every other resource and leaves no reference to a
released one, which `pulumi stack import` would refuse ("refers to missing resource")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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
