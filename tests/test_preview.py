"""`make preview` (offline.preview): output and exit codes, as a process of its own (`cli`, as make
runs it) and through the same entry point in this process (`preview`)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from offline import runner
from tests.preview_run import run_main

ROOT = runner.ROOT


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`make preview` as make runs it: a process of its own (`env`: its environment, else ours)."""
    return subprocess.run(
        [sys.executable, "-m", "offline.preview", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


@functools.cache
def preview(*args: str) -> subprocess.CompletedProcess[str]:
    """The entry point in this process (tests/preview_run.py), one run per distinct command line:
    tests that read the same plan share it (the plan is deterministic:
    tests/test_plan.py::test_two_runs_give_identical_plans)."""
    return run_main(*args)


def test_dev_preview_lists_every_resource_and_output() -> None:
    result = cli("--stack", "dev")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(
        "Stack astro-gke-gpu/dev (offline plan under Pulumi mocks: nothing was deployed)"
    )
    for line in (
        "    + astro-gke-gpu:gke:Cluster  astro-gpu-dev",
        "        + gcp:container/cluster:Cluster  astro-gpu-dev-gke",
        "        + gcp:container/nodePool:NodePool  astro-gpu-dev-l4-spot-pool",
        "        + gcp:compute/routerNat:RouterNat  astro-gpu-dev-nat",
        "    + astro-gke-gpu:airflow:DeploymentAccess  astro-gpu-dev-analytics",
        "        + kubernetes:rbac.authorization.k8s.io/v1:Role  astro-gpu-dev-analytics-role",
        "Resources: 35 to create",
        "      2 gcp:container/nodePool:NodePool",
        "      4 gcp:projects/iAMMember:IAMMember",
        "      1 gcp:secretmanager/secretVersion:SecretVersion",
    ):
        assert line in out.splitlines(), line
    endpoint = next(
        line for line in out.splitlines() if line.strip().startswith("cluster_endpoint:")
    )
    assert endpoint.endswith("(placeholder: invented by the mocks)")


def test_prod_preview_marks_protected_cluster() -> None:
    result = preview("--stack", "prod")
    assert result.returncode == 0, result.stderr
    assert (
        "        + gcp:container/cluster:Cluster  astro-gpu-prod-gke [protect]"
        in result.stdout.splitlines()
    )


def test_prod_preview_shows_the_remote_agents_objects_and_protection() -> None:
    """The Remote Execution deployment in the plan: its agent's namespace, service accounts and
    XCom bucket under the deployment, the live ones protected in prod; the pack passes them."""
    done = preview("--stack", "prod")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = lines.index("    + astro-gke-gpu:airflow:DeploymentAccess  astro-gpu-prod-batch-remote")
    agent = "astro-gpu-prod-batch-remote-agent"
    assert lines[start + 1 : start + 8] == [
        f"        + astro-gke-gpu:airflow:RemoteAgent  {agent}",
        f"            + gcp:storage/bucket:Bucket  {agent}-xcom [protect]",
        "            + gcp:storage/bucketIAMMember:BucketIAMMember  "
        f"{agent}-xcom-astro-agent-triggerer",
        f"            + gcp:storage/bucketIAMMember:BucketIAMMember  {agent}-xcom-astro-agent-worker",
        f"            + kubernetes:core/v1:Namespace  {agent}-namespace [protect]",
        f"            + kubernetes:core/v1:ServiceAccount  {agent}-ksa-astro-agent-triggerer",
        f"            + kubernetes:core/v1:ServiceAccount  {agent}-ksa-astro-agent-worker",
    ]
    assert "Policies: 0 mandatory, 0 advisory violation(s)" in lines


def test_prod_preview_shows_each_gpu_pools_cold_start_budget() -> None:
    done = preview("--stack", "prod")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = lines.index(
        "GPU cold-start budget (what a task on each pool waits for; components/gke/cold_start.py):"
    )
    # Each schedule wait includes prod's 30 min Kueue queue wait (docs/gpu-sharing.md).
    assert lines[start + 1 : start + 7] == [
        "    a100: scheduled within 40m00s, started within 15m00s, 1 retry 60 s apart",
        "    l4: scheduled within 40m00s, started within 15m00s, 1 retry 60 s apart",
        # the class waits as long as its slowest member (spot and flex-start: 15 min)
        "    l4-any: scheduled within 45m00s, started within 15m00s, 3 retries 60 s apart",
        "    l4-flex: scheduled within 45m00s, started within 15m00s, 1 retry 60 s apart",
        "    l4-spot: scheduled within 45m00s, started within 15m00s, 3 retries 60 s apart",
        "  from:",
    ]
    assert lines[start + 7].startswith("    node_boot 270 s: GPU VM created and joined")


def test_invalid_config_exits_2_with_errors_and_no_traceback(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    platform = doc["config"]["astro-gke-gpu:platform"]
    platform["project_id"] = "Bad"
    platform["gpu_pools"][0]["accelerator_count"] = 3
    bad = tmp_path / "Pulumi.dev.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = cli("--stack", "dev", "--config-file", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "invalid stack config 'astro-gke-gpu:platform' (2 problem(s)):" in result.stderr
    assert "  - project_id: " in result.stderr
    assert (
        "  - gpu_pools[0].accelerator_count: g2-standard-8 carries exactly 1 GPU(s); set 1"
        in result.stderr
    )


def test_mandatory_violation_exits_1_and_names_the_policy(tmp_path: Path) -> None:
    # Valid config (the model allows up to 1000 nodes), but above the pack's GPU node cap of 16.
    doc = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    doc["config"]["astro-gke-gpu:platform"]["gpu_pools"][0]["max_nodes"] = 40
    proposed = tmp_path / "Pulumi.dev.yaml"
    proposed.write_text(yaml.safe_dump(doc))
    result = preview("--stack", "dev", "--config-file", str(proposed))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "Policies: 1 mandatory, 0 advisory violation(s)" in lines
    assert (
        "    [mandatory] gpu-max-nodes  (gcp:container/nodePool:NodePool  astro-gpu-dev-l4-spot-pool)"
        in lines
    )
    assert "        autoscaling.maxNodeCount 40 exceeds the cap of 16 GPU nodes per pool." in lines


def test_clean_stack_reports_no_violations() -> None:
    result = preview("--stack", "prod")
    assert result.returncode == 0, result.stderr
    assert "Policies: 0 mandatory, 0 advisory violation(s)" in result.stdout.splitlines()


# --- make preview BASE=<ref>: the change review, end to end (a real temporary worktree) --------

L4_POOL = (
    "urn:pulumi:prod::astro-gke-gpu::astro-gke-gpu:gke:GpuNodePool"
    "$gcp:container/nodePool:NodePool::astro-gpu-prod-l4-pool"
)


def git(*args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout.strip()


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A commit of the working tree exactly as it is (tracked and untracked, .gitignore honoured),
    made with a throwaway index: no ref, the real index and the files are left alone. As BASE it
    is the program under test, so the review must find nothing."""
    index = {"GIT_INDEX_FILE": str(tmp_path_factory.mktemp("index") / "index")}
    git("add", "--all", env=index)
    tree = git("write-tree", env=index)
    return git("commit-tree", tree, "-p", "HEAD", "-m", "preview test snapshot")


def preview_in(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A preview whose temporary files (the base's worktree among them) go under `tmp`, so a test
    can see what this run left behind while other runs go on in parallel."""
    return cli(*args, env={**os.environ, "TMPDIR": str(tmp)})


def worktrees_under(tmp: Path) -> list[str]:
    listed = git("worktree", "list", "--porcelain").splitlines()
    paths = [line.removeprefix("worktree ") for line in listed if line.startswith("worktree ")]
    return [p for p in paths if Path(p).resolve().is_relative_to(tmp.resolve())]


def edited_config(tmp_path: Path, stack: str, edit: Callable[[dict[str, Any]], None]) -> str:
    doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    edit(doc["config"]["astro-gke-gpu:platform"])
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_base_equal_to_the_working_tree_shows_no_changes(snapshot: str, tmp_path: Path) -> None:
    result = preview_in(tmp_path, "--stack", "dev", "--base", snapshot)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        f"Changes against {snapshot} ({snapshot[:12]}): "
        "0 to create, 0 to update, 0 to replace, 0 to delete"
    ) in lines
    assert "    no changes: `pulumi up` would do nothing" in lines
    assert worktrees_under(tmp_path) == [] and list(tmp_path.iterdir()) == []  # worktree gone


def test_base_review_of_a_proposed_config(snapshot: str, tmp_path: Path) -> None:
    def scale(p: dict[str, Any]) -> None:
        p["gpu_pools"][0]["max_nodes"] = 4

    config = edited_config(tmp_path, "dev", scale)
    result = preview("--stack", "dev", "--base", snapshot, "--config-file", config)
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("\nChanges against ", 1)[1].splitlines()
    assert section[1:] == [
        "    ~ update  gcp:container/nodePool:NodePool  astro-gpu-dev-l4-spot-pool",
        "          autoscaling.maxNodeCount: 2 -> 4",
    ]


def test_prod_refuses_a_gpu_pool_replacement_unless_allowed(snapshot: str, tmp_path: Path) -> None:
    def latest(p: dict[str, Any]) -> None:
        p["gpu_pools"][0]["driver_version"] = "LATEST"

    config = edited_config(tmp_path, "prod", latest)
    args = ("--stack", "prod", "--base", snapshot, "--config-file", config)
    refused = preview(*args)
    assert refused.returncode == 3, refused.stderr
    lines = refused.stdout.splitlines()
    assert "!!   replace GPU node pool astro-gpu-prod-l4" in lines
    assert f"!!       {L4_POOL}" in lines
    assert (
        "!! prod is a production stack (the policy pack's prodStacks): refused (exit 3)." in lines
    )
    allowed = preview(*args, "--allow-replace", L4_POOL)
    assert allowed.returncode == 0, allowed.stderr
    assert "!!   replace GPU node pool astro-gpu-prod-l4  [allowed]" in allowed.stdout.splitlines()


# The user's own projects in place of every shipped example (components/config/preflight.py).
OWN_PROJECTS = {
    "acme-ml-prod": "own-ml-prod",
    "acme-ml-dev": "own-ml-dev",
    "acme-ml-ci": "own-ml-ci",
    "astro-tenant-4821": "own-astro-tenant",
}


def own_projects(value: Any) -> Any:
    if isinstance(value, str):
        for example, own in OWN_PROJECTS.items():
            value = value.replace(example, own)
        return value
    if isinstance(value, dict):
        return {k: own_projects(v) for k, v in value.items()}
    if isinstance(value, list):
        return [own_projects(v) for v in value]
    return value


def test_a_first_pr_against_the_shipped_example_creates_everything(
    snapshot: str, tmp_path: Path
) -> None:
    """The user's prod stack file against BASE, where it is still the shipped example: every
    resource is new (BASE has no stack of theirs), not 15 replacements refused (exit 3)."""
    from components.config import preflight

    doc = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    platform = own_projects(doc["config"]["astro-gke-gpu:platform"])
    assert preflight.example_problems(platform) == []
    doc["config"]["astro-gke-gpu:platform"] = platform
    config = tmp_path / "Pulumi.prod.yaml"
    config.write_text(yaml.safe_dump(doc))
    result = preview("--stack", "prod", "--base", snapshot, "--config-file", str(config))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    lines = result.stdout.splitlines()
    section = result.stdout.split("\nChanges against ", 1)[1].splitlines()
    assert section[0].endswith(" to create, 0 to update, 0 to replace, 0 to delete"), section[0]
    assert any(
        "the stack file at BASE holds the shipped example values" in line for line in lines
    ), lines


def test_make_passes_base_and_allow_replace(snapshot: str, tmp_path: Path) -> None:
    # URNs hold `$`: the Makefile passes ALLOW_REPLACE unexpanded and quoted.
    def latest(p: dict[str, Any]) -> None:
        p["gpu_pools"][0]["driver_version"] = "LATEST"

    config = edited_config(tmp_path, "prod", latest)
    result = subprocess.run(
        [
            "make",
            "-s",
            "preview",
            "STACK=prod",
            f"BASE={snapshot}",
            f"ALLOW_REPLACE={L4_POOL}",
            f"ARGS=--config-file {config}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "!!   replace GPU node pool astro-gpu-prod-l4  [allowed]" in result.stdout.splitlines()


def test_json_review_matches_the_schema(snapshot: str, tmp_path: Path) -> None:
    def latest(p: dict[str, Any]) -> None:
        p["gpu_pools"][0]["driver_version"] = "LATEST"

    config = edited_config(tmp_path, "prod", latest)
    result = preview(
        "--stack", "prod", "--base", snapshot, "--config-file", config, "--format", "json"
    )
    assert result.returncode == 3, result.stderr
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, json.loads((ROOT / "offline" / "plan.schema.json").read_text()))
    path = "nodeConfig.guestAccelerators[0].gpuDriverInstallationConfig.gpuDriverVersion"
    l4_class = (
        "urn:pulumi:prod::astro-gke-gpu::astro-gke-gpu:gke:GpuComputeClass"
        "$kubernetes:cloud.google.com/v1:ComputeClass::astro-gpu-prod-l4-any-class"
    )
    assert doc["changes"] == [
        {
            # the class l4 belongs to lists the replacement pool's new generated name
            "urn": l4_class,
            "type": "kubernetes:cloud.google.com/v1:ComputeClass",
            "name": "astro-gpu-prod-l4-any-class",
            "op": "update",
            "properties": ["spec.priorities[1].nodepools[0]"],
            "replacement": None,
            "caused_by": [L4_POOL],
            "hurts": None,
            "notes": [],
        },
        {
            "urn": L4_POOL,
            "type": "gcp:container/nodePool:NodePool",
            "name": "astro-gpu-prod-l4-pool",
            "op": "replace",
            "properties": [path],
            "replacement": "create-before-delete",
            "caused_by": [],
            "hurts": "GPU node pool astro-gpu-prod-l4",
            "notes": [],
        },
    ]
    assert doc["review"] == {
        "base": snapshot,
        "commit": snapshot,
        "prod": True,
        "counts": {"create": 0, "update": 1, "replace": 1, "delete": 0},
        "hurting": [L4_POOL],
        "allowed": [],
        "refused": [L4_POOL],
        "owner_steps": [],
    }


def test_without_base_the_json_has_no_review() -> None:
    result = preview("--stack", "dev", "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert "changes" not in doc and "review" not in doc


def test_an_unknown_base_exits_4(tmp_path: Path) -> None:
    result = preview_in(tmp_path, "--stack", "dev", "--base", "no-such-ref")
    assert result.returncode == 4
    assert result.stdout == ""
    assert result.stderr.startswith("error: BASE no-such-ref: git rev-parse")
    assert worktrees_under(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_a_custom_role_content_change_is_an_owner_step(snapshot: str, tmp_path: Path) -> None:
    """Without the DNS endpoint the launcher role loses clusters.connect: the bootstrap owns the
    role, so the review names the owner's bootstrap `pulumi up` (CI cannot apply it)."""

    def networks(p: dict[str, Any]) -> None:
        p["cluster"]["control_plane"] = {
            "access": "authorized_networks",
            "authorized_networks": [{"cidr_block": "198.51.100.7/32", "display_name": "astro"}],
        }

    config = edited_config(tmp_path, "dev", networks)
    args = ("--stack", "dev", "--base", snapshot, "--config-file", config)
    result = preview(*args)
    assert result.returncode == 0, result.stderr
    steps = result.stdout.split("\nOwner steps ", 1)[1].splitlines()
    assert steps[:2] == [
        "(the deploy identity cannot do these; docs/day0.md, Custom roles):",
        "    custom role projects/acme-ml-dev/roles/astroKpoLauncher_astro_gpu_dev: permissions "
        "-container.clusters.connect: apply it with an owner's bootstrap `pulumi up` "
        "(cd bootstrap && pulumi up), before this deploys",
    ]
    doc = json.loads(preview(*args, "--format", "json").stdout)
    assert doc["review"]["owner_steps"] == [steps[1].strip()]
    unchanged = json.loads(preview("--stack", "dev", "--base", snapshot, "--format", "json").stdout)
    assert unchanged["review"]["owner_steps"] == []
