"""The day-0 program (bootstrap/) under Pulumi mocks: what it registers, what it exports, and its
one keyed config error before any resource."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from offline import runner
from offline.mocks import PlaceholderMocks, RecordingMonitor
from tests.day0 import BOOT_KEY, BOOTSTRAP, InputsOnly, run_bootstrap
from tools.required_apis import HOME_APIS, REQUIRED_APIS

WORKFLOWS = runner.ROOT / ".github" / "workflows"


@pytest.fixture(scope="module")
def boot() -> runner.Run:
    return run_bootstrap()


def raw() -> dict[str, Any]:
    return copy.deepcopy(runner.stack_config("ci", root=BOOTSTRAP)[BOOT_KEY])


def test_outputs_are_exactly_the_variables_the_workflows_read(boot: runner.Run) -> None:
    read = {
        m for f in WORKFLOWS.glob("*.yml") for m in re.findall(r"vars\.([A-Z_]+)", f.read_text())
    }
    assert set(boot.outputs["repository_variables"]) == read
    assert boot.outputs["repository_variables"] == {
        "GCP_WORKLOAD_IDENTITY_PROVIDER": (
            "projects/123456789012/locations/global/workloadIdentityPools/github/providers/"
            "github-actions"
        ),
        "GCP_DEPLOY_SERVICE_ACCOUNT": "pulumi-deploy@acme-ml-ci.iam.gserviceaccount.com",
        "GCP_PREVIEW_SERVICE_ACCOUNT": "pulumi-preview@acme-ml-ci.iam.gserviceaccount.com",
        "PULUMI_BACKEND_URL": "gs://acme-ml-pulumi-state",
    }
    key = "gcpkms://projects/acme-ml-ci/locations/global/keyRings/pulumi/cryptoKeys/state"
    assert boot.outputs["pulumi_login"] == "pulumi login gs://acme-ml-pulumi-state"
    assert boot.outputs["stack_init"] == {
        "dev": f"pulumi stack init dev --secrets-provider={key}",
        "prod": f"pulumi stack init prod --secrets-provider={key}",
    }


def test_the_state_bucket(boot: runner.Run) -> None:
    bucket = boot.one("gcp:storage/bucket:Bucket").inputs
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["uniformBucketLevelAccess"] is True
    assert bucket["publicAccessPrevention"] == "enforced"
    assert bucket["softDeletePolicy"] == {"retentionDurationSeconds": 30 * 86400}
    assert bucket["forceDestroy"] is False
    assert "encryption" not in bucket
    assert boot.one("gcp:storage/bucket:Bucket").protect
    grants = {
        (r.inputs["role"], r.inputs["member"].split("@")[0])
        for r in boot.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    }
    assert grants == {
        ("roles/storage.objectUser", "serviceAccount:pulumi-deploy"),
        ("roles/storage.objectViewer", "serviceAccount:pulumi-preview"),
        ("projects/acme-ml-ci/roles/pulumiStateLock", "serviceAccount:pulumi-preview"),
    }
    assert {
        r.inputs["bucket"] for r in boot.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    } == {"acme-ml-pulumi-state"}


def test_optional_cmek_on_the_state_bucket() -> None:
    cfg = raw()
    key = "projects/acme-ml-ci/locations/us/keyRings/state/cryptoKeys/bucket"
    cfg["state_bucket"]["kms_key"] = key
    run = run_bootstrap(config={BOOT_KEY: cfg})
    assert run.one("gcp:storage/bucket:Bucket").inputs["encryption"] == {"defaultKmsKeyName": key}
    agent = run.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "state-bucket-cmek").inputs
    assert agent["cryptoKeyId"] == key
    assert (
        agent["member"]
        == "serviceAccount:service-123456789012@gs-project-accounts.iam.gserviceaccount.com"
    )


def test_the_secrets_provider_key(boot: runner.Run) -> None:
    key = boot.one("gcp:kms/cryptoKey:CryptoKey")
    assert key.inputs["rotationPeriod"] == f"{90 * 86400}s"
    assert key.inputs["purpose"] == "ENCRYPT_DECRYPT"
    assert key.protect
    grants = {
        (r.inputs["role"], r.inputs["member"].split("@")[0], r.inputs["cryptoKeyId"])
        for r in boot.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    }
    kid = "projects/acme-ml-ci/locations/global/keyRings/pulumi/cryptoKeys/state"
    assert grants == {
        ("roles/cloudkms.cryptoKeyEncrypterDecrypter", "serviceAccount:pulumi-deploy", kid),
        ("roles/cloudkms.cryptoKeyDecrypter", "serviceAccount:pulumi-preview", kid),
    }


def test_apis_come_from_the_one_list_and_stay_enabled(boot: runner.Run) -> None:
    services = boot.of_type("gcp:projects/service:Service")
    by_project: dict[str, set[str]] = {}
    for s in services:
        assert s.inputs["disableOnDestroy"] is False
        by_project.setdefault(s.inputs["project"], set()).add(s.inputs["service"])
    assert by_project == {
        "acme-ml-dev": set(REQUIRED_APIS),
        "acme-ml-prod": set(REQUIRED_APIS),
        "acme-ml-ci": set(HOME_APIS),
    }
    assert set(HOME_APIS) <= set(REQUIRED_APIS)


def test_the_provider_pins_the_repository(boot: runner.Run) -> None:
    provider = boot.one("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider").inputs
    assert provider["attributeCondition"] == (
        "assertion.repository_id == '812345678' && assertion.repository == 'acme/astro-gke-gpu'"
    )
    assert provider["oidc"] == {"issuerUri": "https://token.actions.githubusercontent.com"}


def test_a_first_preview_registers_the_same_resources(boot: runner.Run) -> None:
    """No branching on outputs, nothing created inside apply: with every cloud value unknown the
    program registers the same resources."""
    mocks = InputsOnly()
    monitor = RecordingMonitor(mocks)
    run = runner.run("ci", root=BOOTSTRAP, mocks=mocks, monitor=monitor, preview=True)
    assert sorted((r.type, r.name) for r in run.registrations) == sorted(
        (r.type, r.name) for r in boot.registrations
    )


def test_a_bad_config_is_one_keyed_error_before_any_resource() -> None:
    cfg = raw()
    cfg["github"]["repository_id"] = "acme"
    cfg["state_bucket"]["soft_delete_days"] = 3
    cfg["stacks"] = ["dev", "staging"]
    monitor = RecordingMonitor(PlaceholderMocks())
    with pytest.raises(Exception) as err:
        runner.run("ci", config={BOOT_KEY: cfg}, root=BOOTSTRAP, monitor=monitor)
    text = str(err.value)
    assert "invalid stack config 'astro-gke-bootstrap:bootstrap' (2 problem(s))" in text
    assert "github.repository_id: the repository's numeric id" in text
    assert "state_bucket.soft_delete_days: Input should be greater than or equal to 7" in text
    assert monitor.registrations == []


def test_a_missing_or_invalid_main_stack_is_keyed_too(tmp_path: Any) -> None:
    cfg = raw()
    cfg["stacks"] = ["dev", "staging"]
    monitor = RecordingMonitor(PlaceholderMocks())
    with pytest.raises(Exception, match=r"stacks\[1\]: no Pulumi.staging.yaml beside bootstrap/"):
        runner.run("ci", config={BOOT_KEY: cfg}, root=BOOTSTRAP, monitor=monitor)
    assert monitor.registrations == []


def test_the_committed_example_validates() -> None:
    from components.config.bootstrap import load_bootstrap

    assert load_bootstrap(raw()).stacks == ["dev", "prod"]


def test_make_bootstrap_preview_runs_the_pack(capsys: pytest.CaptureFixture[str]) -> None:
    from offline import preview

    assert preview.main(["--program", "bootstrap", "--stack", "ci"]) == 0
    out = capsys.readouterr().out
    assert "Policies: 0 mandatory, 0 advisory violation(s)" in out
    assert (
        "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider  github-provider" in out
    )


def test_make_bootstrap_preview_reports_a_bad_config(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from offline import preview

    cfg = raw()
    cfg["state_bucket"]["name"] = "Bad.Bucket"
    path = tmp_path / "Pulumi.ci.yaml"
    path.write_text(yaml.safe_dump({"config": {BOOT_KEY: cfg}}))
    assert preview.main(["--program", "bootstrap", "--config-file", str(path)]) == 2
    assert "state_bucket.name: 3-63 characters" in capsys.readouterr().err


def write_stack(root: Any, name: str, platform: dict[str, Any]) -> None:
    import yaml

    doc = {"config": {"astro-gke-gpu:platform": platform}}
    (root / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(doc))


def test_an_invalid_main_stack_is_one_keyed_error(tmp_path: Any) -> None:
    from components.config import ConfigError
    from components.day0.scope import load_scopes

    platform = copy.deepcopy(runner.stack_config("dev")["astro-gke-gpu:platform"])
    platform["project_id"] = "X"
    write_stack(tmp_path, "dev", platform)
    with pytest.raises(ConfigError) as err:
        load_scopes(tmp_path, ["dev", "qa"], "astro-gke-bootstrap:bootstrap")
    assert err.value.problems == [
        (
            "stacks[0] (Pulumi.dev.yaml) project_id",
            "6-30 characters: lowercase letters, digits, hyphens; starts with a letter",
        ),
        ("stacks[1]", "no Pulumi.qa.yaml beside bootstrap/"),
    ]


def test_kueues_firewall_rule_in_a_shared_vpc_host_is_refused(tmp_path: Any) -> None:
    """With Kueue on, the webhook rule goes into the network's project: an existing network in
    another project (a Shared VPC host) is outside what the bootstrap grants."""
    from components.config import ConfigError
    from components.day0.scope import load_scopes

    platform = copy.deepcopy(runner.stack_config("prod")["astro-gke-gpu:platform"])
    network = "projects/acme-host/global/networks/shared"
    platform["network"] = {
        "mode": "existing",
        "network": network,
        "subnetwork": "projects/acme-host/regions/us-central1/subnetworks/gke",
        "pods_range_name": "pods",
        "services_range_name": "services",
    }
    write_stack(tmp_path, "prod", platform)
    with pytest.raises(ConfigError) as err:
        load_scopes(tmp_path, ["prod"], "k")
    assert err.value.problems == [
        (
            "stacks[0] (Pulumi.prod.yaml) network.network (Kueue's webhook firewall rule)",
            f"{network} is outside acme-ml-prod: grant the deploy identity there by hand "
            "(docs/day0.md)",
        )
    ]
    # Kueue off: the stack adds no rule to that network.
    platform["kueue"]["enabled"] = False
    write_stack(tmp_path, "prod", platform)
    assert [s.stack for s in load_scopes(tmp_path, ["prod"], "k")] == ["prod"]


def test_stack_resources_in_another_project_are_refused(tmp_path: Any) -> None:
    from components.config import ConfigError
    from components.day0.scope import load_scopes

    platform = copy.deepcopy(runner.stack_config("prod")["astro-gke-gpu:platform"])
    repo = "projects/acme-shared/locations/us-central1/repositories/images"
    platform["node_service_account"]["artifact_registry_repositories"] = [repo]
    write_stack(tmp_path, "prod", platform)
    with pytest.raises(ConfigError) as err:
        load_scopes(tmp_path, ["prod"], "k")
    assert err.value.problems == [
        (
            "stacks[0] (Pulumi.prod.yaml) node_service_account.artifact_registry_repositories",
            f"{repo} is outside acme-ml-prod: grant the deploy identity there by hand "
            "(docs/day0.md)",
        )
    ]
