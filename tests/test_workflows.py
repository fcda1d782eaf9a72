"""GitHub Actions workflows: actionlint-clean, keyless, gated, and the API list complete."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from offline import runner
from tools.required_apis import API_OF_MODULE, REQUIRED_APIS

WORKFLOWS = runner.ROOT / ".github" / "workflows"
ACTIONLINT = str(runner.ROOT / ".venv" / "bin" / "actionlint")


def load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def test_actionlint_passes_our_workflows() -> None:
    result = subprocess.run(
        [ACTIONLINT, *sorted(map(str, WORKFLOWS.glob("*.yml")))], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_not_vacuous(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.evnt }}\n"
    )
    result = subprocess.run([ACTIONLINT, str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert 'property "evnt" is not defined' in result.stdout


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_no_long_lived_keys(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    for forbidden in ("credentials_json", "GOOGLE_CREDENTIALS", "PULUMI_ACCESS_TOKEN", "secrets."):
        assert forbidden not in text
    doc = load(name)
    for job_name, job in doc["jobs"].items():
        steps = job["steps"]
        uses_auth = any(
            str(s.get("uses", "")).startswith("google-github-actions/auth@") for s in steps
        )
        # id-token (OIDC for Workload Identity Federation) only where Google auth happens.
        assert (job.get("permissions", {}).get("id-token") == "write") == uses_auth, job_name
        for step in steps:
            if str(step.get("uses", "")).startswith("google-github-actions/auth@"):
                assert set(step["with"]) == {"workload_identity_provider", "service_account"}


def test_pr_workflow_runs_tests_previews_and_gated_cloud_preview() -> None:
    doc = load("pr.yml")
    assert doc["on"] == {"pull_request": {"branches": ["main"]}}
    assert doc["permissions"] == {"contents": "read"}
    test_steps = [s.get("run") for s in doc["jobs"]["test"]["steps"]]
    assert "make test" in test_steps
    preview = doc["jobs"]["offline-preview"]
    assert preview["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.all) }}"
    assert any("GITHUB_STEP_SUMMARY" in (s.get("run") or "") for s in preview["steps"])
    assert any("set -o pipefail" in (s.get("run") or "") for s in preview["steps"])
    cloud = doc["jobs"]["cloud-preview"]
    assert "vars.GCP_WORKLOAD_IDENTITY_PROVIDER != ''" in cloud["if"]
    pulumi = next(s for s in cloud["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["comment-on-pr"] is True


def test_pr_workflow_reviews_changes_against_the_base_branch_for_every_stack() -> None:
    preview = load("pr.yml")["jobs"]["offline-preview"]
    assert preview["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.all) }}"
    checkout = preview["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"] == {"fetch-depth": 0}  # origin/<base branch> must exist
    review = next(s for s in preview["steps"] if "make -s preview" in (s.get("run") or ""))
    assert review["env"] == {
        "STACK": "${{ matrix.stack }}",
        "BASE_REF": "${{ github.base_ref }}",
        # Read from the environment, never spliced into the script (no injection).
        "PR_BODY": "${{ github.event.pull_request.body }}",
    }
    assert "github.event" not in review["run"]
    assert (
        'make -s preview STACK="$STACK" BASE="origin/$BASE_REF" ALLOW_REPLACE="$allow" '
        "| tee preview.txt"
    ) in review["run"]
    assert review["run"].startswith("set -o pipefail\n")  # exit 1/3 fails the job through tee
    summary = next(s for s in preview["steps"] if "GITHUB_STEP_SUMMARY" in (s.get("run") or ""))
    assert summary["if"] == "always()"
    assert "sed -n '/^Changes against /,$p' preview.txt" in summary["run"]


def test_pr_allow_replace_lines_are_read_from_the_description() -> None:
    review = next(
        s
        for s in load("pr.yml")["jobs"]["offline-preview"]["steps"]
        if "make -s preview" in (s.get("run") or "")
    )
    extract = next(line for line in review["run"].splitlines() if line.startswith("allow="))
    body = "Why:\r\nALLOW_REPLACE=urn:pulumi:prod::p::a$b::x\r\ntext\nALLOW_REPLACE=urn:c\n"
    script = f"{extract}\nprintf '%s' \"$allow\""
    out = subprocess.run(
        ["bash", "-c", script],
        env={"PR_BODY": body, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == "urn:pulumi:prod::p::a$b::x,urn:c"


def test_deploy_workflow_staging_on_main_then_protected_production() -> None:
    # The job graph: tests/test_workflow_tools.py::test_deploy_runs_staging_stacks_then_...
    doc = load("deploy.yml")
    assert doc["on"]["push"] == {"branches": ["main"]}
    assert set(doc["jobs"]) == {"stacks", "staging", "production"}
    for job in (doc["jobs"]["staging"], doc["jobs"]["production"]):
        pulumi = next(
            s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")
        )
        assert pulumi["with"]["command"] == "up"
        assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
        assert pulumi["with"]["policyPacks"] == "policies"
    assert doc["concurrency"]["cancel-in-progress"] is False
    # Before the bootstrap (no repository variables), both deploying jobs skip, as pr.yml's
    # cloud preview does.
    for name in ("staging", "production"):
        assert "vars.GCP_WORKLOAD_IDENTITY_PROVIDER != '' && " in doc["jobs"][name]["if"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_registered_gcp_module_has_its_api_listed(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    modules = {
        r.type.split(":")[1].split("/")[0] for r in run.registrations if r.type.startswith("gcp:")
    }
    assert modules <= set(API_OF_MODULE), modules - set(API_OF_MODULE)
    assert {API_OF_MODULE[m] for m in modules} <= set(REQUIRED_APIS)
    # Run time: impersonation mints tokens through IAM Credentials.
    assert "iamcredentials.googleapis.com" in REQUIRED_APIS
