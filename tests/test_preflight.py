"""The preflight (components/config/preflight.py): `make preview` and `make bootstrap-preview`
refuse the shipped example values with one error naming each key and its rule, unless the run
says it previews the example (PREVIEW_EXAMPLES=1, set by the repository's own CI and tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import bootstrap, preflight
from offline import runner

ROOT = runner.ROOT
SHIPPED = [
    ROOT / "Pulumi.dev.yaml",
    ROOT / "Pulumi.prod.yaml",
    ROOT / "bootstrap" / "Pulumi.ci.yaml",
]


def run(*args: str, allow: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != preflight.ALLOW_ENV}
    if allow:
        env[preflight.ALLOW_ENV] = "1"
    return subprocess.run(
        [sys.executable, "-m", "offline.preview", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def problems(stderr: str) -> list[str]:
    return [line[4:] for line in stderr.splitlines() if line.startswith("  - ")]


def test_the_example_constants_are_the_shipped_values() -> None:
    text = "\n".join(p.read_text() for p in SHIPPED)
    projects = set(re.findall(r"project_id: ([a-z][a-z0-9-]+)", text))
    projects |= set(re.findall(r"@([a-z][a-z0-9-]+)\.iam\.gserviceaccount\.com", text))
    projects |= set(re.findall(r"projects/([a-z][a-z0-9-]+)/", text))
    assert projects == set(preflight.EXAMPLE_PROJECTS)
    ci = yaml.safe_load(SHIPPED[2].read_text())["config"]["astro-gke-bootstrap:bootstrap"]
    assert ci["github"]["repository"] == preflight.EXAMPLE_REPOSITORY
    assert ci["github"]["repository_id"] == preflight.EXAMPLE_REPOSITORY_ID
    assert ci["state_bucket"]["name"] == preflight.EXAMPLE_BUCKET


def test_make_preview_refuses_the_dev_example_naming_each_key() -> None:
    result = run("--stack", "dev", allow=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: invalid stack config 'astro-gke-gpu:platform'")
    assert problems(result.stderr) == [
        f"project_id: {preflight.PROJECT_RULE}",
        "deployments[0].astro_identity: "
        + preflight.REFERENCE_RULE.format(project="astro-tenant-4821"),
    ]
    assert "PREVIEW_EXAMPLES=1" in preflight.PROJECT_RULE


def test_prod_names_every_pre_existing_object_of_the_example() -> None:
    result = run("--stack", "prod", allow=False)
    assert result.returncode == 2
    paths = [p.split(": ", 1)[0] for p in problems(result.stderr)]
    assert paths == [
        "project_id",
        "cluster.secrets_encryption_key",
        "node_service_account.artifact_registry_repositories[0]",
        "deployments[0].astro_identity",
        "deployments[1].astro_identity",
        "observability.notification_channels[0]",
    ]


def test_bootstrap_preview_refuses_its_example_and_the_stacks_it_grants_in() -> None:
    result = run("--program", "bootstrap", allow=False)
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid stack config 'astro-gke-bootstrap:bootstrap'")
    paths = [p.split(": ", 1)[0] for p in problems(result.stderr)]
    assert paths[:4] == [
        "project_id",
        "github.repository",
        "github.repository_id",
        "state_bucket.name",
    ]
    assert "stacks[0] (Pulumi.dev.yaml) project_id" in paths
    assert "stacks[1] (Pulumi.prod.yaml) project_id" in paths
    # The id's hint gives the command that prints the numeric id the config model wants
    # (`gh repo view --json id` prints GraphQL's node id, R_kgDO…, which it refuses).
    assert problems(result.stderr)[1:3] == [
        "github.repository: is the shipped example; set your repository (`<owner>/<name>`)",
        "github.repository_id: is the shipped example; set your repository's numeric id "
        "(`gh api repos/<owner>/<name> --jq .id`)",
    ]
    assert "`gh api repos/<owner>/<name> --jq .id`" in bootstrap.REPOSITORY_ID_RULE


def test_the_repositorys_own_runs_preview_the_example_and_say_so() -> None:
    result = run("--stack", "dev", allow=True)
    assert result.returncode == 0, result.stderr
    assert "note: dev is the shipped example (PREVIEW_EXAMPLES=1)" in result.stderr
    assert result.stdout.startswith("Stack astro-gke-gpu/dev")


def own_project(tmp_path: Path, stack: str = "dev") -> Path:
    doc: dict[str, Any] = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    platform = doc["config"]["astro-gke-gpu:platform"]
    platform["project_id"] = "my-team-ml-dev"
    for d in platform["deployments"]:
        d["astro_identity"] = d["astro_identity"].replace("astro-tenant-4821", "astro-tenant-1")
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_users_own_project_passes_without_the_variable(tmp_path: Path) -> None:
    result = run("--stack", "dev", "--config-file", str(own_project(tmp_path)), allow=False)
    assert result.returncode == 0, result.stderr
    assert "shipped example" not in result.stderr
    assert "my-team-ml-dev" in result.stdout


@pytest.mark.parametrize("value", ["0", "", "true"])
def test_only_the_exact_value_1_allows(value: str) -> None:
    assert not preflight.allowed({preflight.ALLOW_ENV: value})
    assert preflight.allowed({preflight.ALLOW_ENV: "1"})


def test_a_reference_to_another_real_project_is_not_refused() -> None:
    raw: dict[str, Any] = {
        "project_id": "my-team-ml-prod",
        "cluster": {
            "secrets_encryption_key": "projects/shared-kms/locations/x/keyRings/k/cryptoKeys/c"
        },
    }
    assert preflight.example_problems(raw) == []
    raw["cluster"]["secrets_encryption_key"] = (
        "projects/acme-ml-prod/locations/x/keyRings/k/cryptoKeys/c"
    )
    assert preflight.example_problems(raw) == [
        ("cluster.secrets_encryption_key", preflight.REFERENCE_RULE.format(project="acme-ml-prod"))
    ]
