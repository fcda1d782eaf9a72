"""Every tool a workflow step needs is installed in that job, and the stack list comes from one
place (the bootstrap's `stacks:`, read by tools/stacks.py).

What a `make <target>` step needs is derived, not listed by hand: the target's prerequisite
closure in the Makefile, the commands its recipes run, and the external programs the test sources
run (a string literal naming the program)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import runner
from tools import stacks as stack_list

ROOT = runner.ROOT
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
MAKEFILE = (ROOT / "Makefile").read_text()
# Programs the tests may run, and the step that installs each on a GitHub-hosted Ubuntu runner.
EXTERNAL = ("kubectl", "gcloud", "gke-gcloud-auth-plugin", "promtool", "git", "bwrap")


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def targets() -> dict[str, tuple[list[str], str]]:
    """target -> (prerequisites, recipe text), from the Makefile."""
    out: dict[str, tuple[list[str], str]] = {}
    lines = MAKEFILE.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^([A-Za-z0-9_./()-]+):(?!=)\s*([^#]*?)(?:\s*##.*)?$", line)
        if not m or line.startswith(".PHONY"):
            continue
        recipe = []
        for next_line in lines[i + 1 :]:
            if not next_line.startswith("\t"):
                break
            recipe.append(next_line)
        out[m.group(1)] = (m.group(2).split(), "\n".join(recipe))
    return out


def closure(target: str) -> set[str]:
    table = targets()
    seen: set[str] = set()
    todo = [target]
    while todo:
        t = todo.pop().replace("$(VENV)", ".venv").replace("$(AF)", ".venv-airflow")
        t = t.replace("$(KUBE_BIN)", ".kube-bin")
        if t in seen:
            continue
        seen.add(t)
        for name, (prereqs, _) in table.items():
            resolved = name.replace("$(VENV)", ".venv").replace("$(AF)", ".venv-airflow")
            resolved = resolved.replace("$(KUBE_BIN)", ".kube-bin")
            if resolved == t:
                todo += prereqs
    return seen


def recipes(target: str) -> str:
    table = targets()
    names = closure(target)
    out = []
    for name, (_, recipe) in table.items():
        resolved = name.replace("$(VENV)", ".venv").replace("$(AF)", ".venv-airflow")
        if resolved.replace("$(KUBE_BIN)", ".kube-bin") in names:
            out.append(recipe)
    return "\n".join(out)


def programs_the_tests_run(paths: list[Path]) -> set[str]:
    found = set()
    for path in paths:
        for source in path.rglob("*.py"):
            text = source.read_text()
            found |= {t for t in EXTERNAL if re.search(rf"[\"']{re.escape(t)}[\"']", text)}
    return found


def needs_of_make(target: str) -> set[str]:
    """The tools `make <target>` needs beyond what it installs itself (uv, the venvs)."""
    text = recipes(target)
    needs = {"python"}
    if "install_promtool.sh" in text:
        needs.add("promtool")
    if "install_deb.sh bwrap" in text:
        needs.add("bwrap")
    if re.search(r"\bgo build\b", text):
        needs.add("go")
    tested: list[Path] = []
    if "-m pytest" in text and "tests/airflow" not in text.split("-m pytest", 1)[1][:5]:
        tested.append(ROOT / "tests")
        if (ROOT / "tests" / "kube").is_dir():
            needs.add("go")  # tests/kube runs the control plane `make kube-bin` builds with Go
    needs |= programs_the_tests_run(tested)
    if "base" in text.lower() or "preview" in target:
        needs.add("git")
    return needs


def installed(job: dict[str, Any], before: int) -> set[str]:
    """What the job's steps before index `before` install."""
    have = set()
    for step in job["steps"][:before]:
        uses = str(step.get("uses", ""))
        with_ = step.get("with") or {}
        if uses.startswith("actions/checkout@"):
            have.add("git")  # the runner image's git; checkout uses it
        if uses.startswith("actions/setup-python@") and str(with_.get("python-version")) == "3.11":
            have.add("python")
        if uses.startswith("actions/setup-go@") and with_.get("go-version-file") == (
            "tools/kubebin/go.mod"
        ):
            have.add("go")
        if uses.startswith("google-github-actions/setup-gcloud@"):
            have.add("gcloud")
            comps = {c.strip() for c in str(with_.get("install_components", "")).split(",")}
            have |= comps & {"gke-gcloud-auth-plugin", "kubectl"}
        if "make venv" in str(step.get("run", "")):
            have.add("venv")
    # promtool and bwrap: `make` installs them itself (tools/install_deb.sh, sudo on a non-root
    # runner).
    have |= {"promtool", "bwrap"}
    return have


def step_needs(step: dict[str, Any]) -> set[str]:
    run = str(step.get("run", ""))
    uses = str(step.get("uses", ""))
    needs: set[str] = set()
    for target in re.findall(r"\bmake (?:-s )?([a-z-]+)", run):
        needs |= needs_of_make(target)
    if ".venv/bin/" in run:
        needs |= {"python", "venv"}
    if uses.startswith("pulumi/actions@"):
        # The program runs in .venv (Pulumi.yaml); the Kubernetes provider's kubeconfig execs
        # gke-gcloud-auth-plugin, which calls gcloud.
        needs |= {"python", "venv", "gcloud", "gke-gcloud-auth-plugin"}
    return needs


JOBS = [(p.name, name, job) for p in WORKFLOWS for name, job in load(p)["jobs"].items()]


@pytest.mark.parametrize(("workflow", "name", "job"), JOBS, ids=[f"{w}:{n}" for w, n, _ in JOBS])
def test_every_tool_a_step_needs_is_installed_before_it(
    workflow: str, name: str, job: dict[str, Any]
) -> None:
    assert job["runs-on"] == "ubuntu-latest"
    for i, step in enumerate(job["steps"]):
        missing = step_needs(step) - installed(job, i)
        assert not missing, (workflow, name, step.get("name") or step.get("uses"), missing)


def test_make_test_needs_what_the_test_job_installs() -> None:
    needs = needs_of_make("test")
    # Derived from the Makefile and the test sources; this fails when either stops being true.
    assert {
        "python",
        "promtool",
        "kubectl",
        "gcloud",
        "gke-gcloud-auth-plugin",
        "git",
        "go",
        "bwrap",
    } <= needs
    assert {"promtool", "bwrap", "unit", "contract", "docs-build", "workflows"} <= closure("test")


def test_the_stack_list_has_one_source() -> None:
    ci = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.ci.yaml").read_text())
    assert stack_list.stacks() == ci["config"]["astro-gke-bootstrap:bootstrap"]["stacks"]
    outputs = stack_list.github_outputs()
    assert outputs == {
        "all": '["dev", "prod"]',
        "staging": '["dev"]',
        "production": '["prod"]',
        "production_environment": "production",
    }
    for path in WORKFLOWS:
        text = path.read_text()
        assert "[dev, prod]" not in text and "stack-name: dev" not in text, path.name
        for job in load(path)["jobs"].values():
            matrix = (job.get("strategy") or {}).get("matrix") or {}
            if "stack" in matrix:
                assert str(matrix["stack"]).startswith("${{ fromJSON(needs.stacks.outputs."), job
                assert "stacks" in job["needs"]


def test_a_new_stack_in_the_list_reaches_the_workflows(tmp_path: Path) -> None:
    (tmp_path / "bootstrap").mkdir()
    (tmp_path / "bootstrap" / "Pulumi.ci.yaml").write_text(
        "config:\n  astro-gke-bootstrap:bootstrap:\n    stacks: [dev, staging, prod]\n"
        "    github: {production_environment: prod-approval}\n"
    )
    for name, env in (("dev", "dev"), ("staging", "staging"), ("prod", "prod")):
        (tmp_path / f"Pulumi.{name}.yaml").write_text(
            f"config:\n  astro-gke-gpu:platform:\n    environment: {env}\n"
        )
    assert stack_list.github_outputs(tmp_path) == {
        "all": '["dev", "staging", "prod"]',
        "staging": '["dev", "staging"]',
        "production": '["prod"]',
        "production_environment": "prod-approval",
    }


def test_deploy_runs_staging_stacks_then_the_protected_production_ones() -> None:
    doc = load(ROOT / ".github" / "workflows" / "deploy.yml")
    jobs = doc["jobs"]
    assert jobs["staging"]["needs"] == "stacks"
    assert jobs["production"]["needs"] == ["stacks", "staging"]
    assert jobs["production"]["environment"] == "${{ needs.stacks.outputs.production_environment }}"
    assert jobs["staging"]["environment"] == "${{ matrix.stack }}"
    for job in (jobs["staging"], jobs["production"]):
        assert job["strategy"]["max-parallel"] == 1
        pulumi = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/"))
        assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
        assert pulumi["with"]["command"] == "up"
    # prod waits for staging; it runs when there is no staging stack (skipped), never after a failure
    cond = jobs["production"]["if"]
    assert 'contains(fromJSON(\'["success", "skipped"]\'), needs.staging.result)' in cond


def fake_bin(tmp_path: Path, scripts: dict[str, str]) -> Path:
    """A PATH of the real coreutils the installer uses, plus fakes for what only a package
    manager and root can do here (apt-get, sudo, id)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("tee", "chmod", "rm", "env", "true", "cat", "head", "dirname"):
        real = subprocess.run(
            ["bash", "-c", f"type -P {tool}"], capture_output=True, text=True, check=True
        ).stdout.strip()
        (bin_dir / tool).symlink_to(real)
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def install(
    tmp_path: Path, scripts: dict[str, str], argv: tuple[str, ...] = ("install_promtool.sh",)
) -> subprocess.CompletedProcess[str]:
    bin_dir = fake_bin(tmp_path, scripts)
    return subprocess.run(
        ["/bin/bash", str(ROOT / "tools" / argv[0]), *argv[1:]],
        env={
            "PATH": str(bin_dir),
            "POLICY_RC_D": str(tmp_path / "policy-rc.d"),
            "LOG": str(tmp_path / "log"),
        },
        capture_output=True,
        text=True,
        check=False,
    )


APT = (
    'echo "apt-get $* as $(id -u)" >>"$LOG"\n'
    'if [ "$1" = install ] || [ "$3" = install ] || [[ " $* " == *" install "* ]]; then\n'
    '  printf "#!/bin/bash\\necho promtool\\n" >"$(dirname "$0")/promtool"\n'
    '  chmod +x "$(dirname "$0")/promtool"\nfi\n'
)


def test_promtool_is_installed_with_sudo_when_the_user_is_not_root(tmp_path: Path) -> None:
    result = install(
        tmp_path,
        {
            "id": 'echo "${FAKE_UID:-1001}"\n',
            "sudo": '[ "$1" = -n ] && shift\necho "sudo $*" >>"$LOG"\nFAKE_UID=0 exec "$@"\n',
            "apt-get": APT,
        },
    )
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "log").read_text().splitlines()
    assert "sudo apt-get update -qq" in log
    assert "apt-get update -qq as 0" in log
    assert (
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "prometheus"
    ) in log
    assert "apt-get install -y -qq --no-install-recommends prometheus as 0" in log
    assert not (tmp_path / "policy-rc.d").exists()  # the service guard is removed again
    assert result.stdout.strip().endswith("/promtool")


def test_promtool_without_root_or_sudo_names_the_package(tmp_path: Path) -> None:
    result = install(tmp_path, {"id": "echo 1001\n", "apt-get": APT})
    assert result.returncode == 1
    assert "install the Debian/Ubuntu package 'prometheus'" in result.stderr
    assert not (tmp_path / "log").exists()


def test_promtool_as_root_needs_no_sudo(tmp_path: Path) -> None:
    result = install(tmp_path, {"id": "echo 0\n", "apt-get": APT})
    assert result.returncode == 0, result.stderr
    assert "apt-get update -qq as 0" in (tmp_path / "log").read_text().splitlines()
    assert os.path.exists(tmp_path / "bin" / "promtool")


def test_bwrap_is_installed_with_sudo_and_no_service_guard(tmp_path: Path) -> None:
    """bubblewrap starts no service: its install writes no policy-rc.d."""
    apt = APT.replace("promtool", "bwrap")
    result = install(
        tmp_path,
        {
            "id": 'echo "${FAKE_UID:-1001}"\n',
            "sudo": '[ "$1" = -n ] && shift\necho "sudo $*" >>"$LOG"\nFAKE_UID=0 exec "$@"\n',
            "apt-get": apt,
        },
        ("install_deb.sh", "bwrap", "bubblewrap"),
    )
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "log").read_text().splitlines()
    assert (
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "bubblewrap"
    ) in log
    assert not any("tee" in line for line in log)
    assert not (tmp_path / "policy-rc.d").exists()
    assert result.stdout.strip().endswith("/bwrap")
