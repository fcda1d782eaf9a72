"""The docs stay true: each generated block matches the code in the page that holds it, and the
commands they name exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from offline import readme, runner
from tests import prose

DOC_PAGES = sorted([runner.ROOT / "README.md", *(runner.ROOT / "docs").glob("*.md")])
# Every page of the site: the docs, plus the pages tools/mkdocs_hooks.py serves from outside docs/.
SITE_PAGES = [*DOC_PAGES, runner.ROOT / "astro" / "DAG_AUTHORS.md"]


@pytest.mark.parametrize("name", sorted(readme.BLOCKS))
def test_generated_blocks_match_the_code(name: str) -> None:
    text = (runner.ROOT / readme.PAGES[name]).read_text()
    assert readme.block(text, name) == readme.BLOCKS[name](), "run: python -m offline.readme"


def test_each_generated_block_lives_in_one_page() -> None:
    assert set(readme.PAGES) == set(readme.BLOCKS)
    for name in readme.BLOCKS:
        begin, end = readme.markers(name)
        holders = [
            p.relative_to(runner.ROOT).as_posix() for p in DOC_PAGES if begin in p.read_text()
        ]
        assert holders == [readme.PAGES[name]], name
        assert (runner.ROOT / readme.PAGES[name]).read_text().count(end) == 1, name


def test_every_make_target_named_in_the_docs_exists() -> None:
    # README.md and docs/ (astro/DAG_AUTHORS.md is for DAG authors, who run no make target)
    makefile = (runner.ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.M))
    named = {p.name: set(re.findall(r"\bmake ([a-z-]+)", p.read_text())) for p in DOC_PAGES}
    assert {"preview", "test", "docs"} <= named["README.md"]
    assert {"venv"} <= set().union(*named.values())
    for page, names in named.items():
        assert names <= targets, (page, names - targets)


README = (runner.ROOT / "README.md").read_text()


def section(text: str, heading: str) -> str:
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_quick_start_runs_in_an_order_that_works_from_an_empty_project() -> None:
    quick = section(README, "Quick start")
    steps = re.findall(r"^(\d)\. \*\*([^*]+)\*\*", quick, flags=re.M)
    assert [n for n, _ in steps] == ["1", "2", "3", "4", "5", "6", "7"]
    titles = [t.lower() for _, t in steps]
    for i, word in enumerate(
        [
            "describe",
            "bootstrap",
            "repository variables",
            "`production` environment",
            "deploy",
            "astro",
            "gpu dag",
        ]
    ):
        assert word in titles[i], (i, titles[i])
    # The bootstrap's backend is named once, in its project file, so every re-run finds it.
    project = yaml.safe_load((runner.ROOT / "bootstrap" / "Pulumi.yaml").read_text())
    assert project["backend"]["url"] == "file://~/.pulumi-bootstrap"
    assert f"backend.url: {project['backend']['url']}" in quick
    assert "gh variable set" in quick
    # Application default credentials before the bootstrap's `pulumi up`, and the stacks are
    # created from the repository root, not in bootstrap/ (whose project file pins its backend).
    assert quick.index("gcloud auth application-default login") < quick.index(
        "pulumi up --policy-pack ../policies"
    )
    assert quick.index("gh variable set") < quick.index("cd ..") < quick.index("stack-init.sh &&")
    # The prod job's environment exists, with required reviewers, before the first deploy.
    assert quick.index("environments/production") < quick.index("**Deploy from CI.**")
    assert '"reviewers"' in quick


def test_the_quick_start_names_only_outputs_the_bootstrap_exports() -> None:
    program = (runner.ROOT / "bootstrap" / "__main__.py").read_text()
    exports = set(re.findall(r'pulumi\.export\(\s*"([a-z_]+)"', program))
    named = set(re.findall(r"pulumi stack output ([a-z_]+)", README))
    assert named and named <= exports, named - exports
    deploying = (runner.ROOT / "docs" / "deploying.md").read_text()
    for var in re.findall(r"\$(GCP_[A-Z_]+|PULUMI_[A-Z_]+)", deploying):
        assert f'"{var}"' in program, var


def test_prerequisites_and_pre_existing_objects_are_named() -> None:
    pre = section(README, "Prerequisites")
    for word in (
        "billing",
        "GPU quota",
        "`gh`",
        "`helm`",
        "Airflow 3",
        "/api/v2",
        "CMEK key",
        "Artifact Registry repository",
        "notification channel",
        "`jq`",
        "owner of every one",
    ):
        assert word in pre, word
    prod = yaml.safe_load((runner.ROOT / "Pulumi.prod.yaml").read_text())
    platform = prod["config"]["astro-gke-gpu:platform"]
    # each pre-existing object prod names, by its config key
    assert platform["cluster"]["secrets_encryption_key"]
    assert platform["node_service_account"]["artifact_registry_repositories"]
    assert platform["observability"]["notification_channels"]
    for key in (
        "cluster.secrets_encryption_key",
        "node_service_account.artifact_registry_repositories",
        "observability.notification_channels",
    ):
        assert key in pre, key


def test_status_is_short_sentences() -> None:
    status = section(README, "Status")
    assert prose.sentences(status)  # the section is found and read as prose
    assert prose.too_long(status) == []


@pytest.mark.parametrize("page", SITE_PAGES, ids=lambda p: p.name)
def test_every_page_has_short_sentences(page: Path) -> None:
    """At most 40 words a sentence on every page (tests/prose.py says what counts as prose:
    code blocks and tables are left out, each list item and heading is its own unit)."""
    assert prose.too_long(page.read_text()) == []


def test_the_sentence_reader_finds_long_sentences_in_prose_and_lists_only() -> None:
    long = " ".join(["word"] * 41) + "."
    assert prose.too_long(long) == [long]
    assert prose.too_long(f"- {long}\n- short.") == [long]
    assert prose.too_long(f"```\n{long}\n```\n| {long} |\n") == []
    # One sentence per list item, even without a full stop; inline code and links are one word.
    assert prose.sentences("- a b\n- c d\n\nSee `x y z`. And [two words](u.md) e.g. here.") == [
        "a b",
        "c d",
        "See CODE.",
        "And two words e.g. here.",
    ]


def test_no_page_offers_a_deploy_without_the_bootstrap() -> None:
    deploying = (runner.ROOT / "docs" / "deploying.md").read_text()
    assert "throwaway" not in deploying
    assert "file://~/.pulumi-state" not in deploying
    assert "roles/storage.objectAdmin" not in deploying
    assert "## Without CI: as the deploy identity" in deploying
    assert "roles/iam.serviceAccountTokenCreator" in deploying
    assert "gcloud config set auth/impersonate_service_account" in deploying
    assert "--impersonate-service-account" in deploying


def test_the_state_bucket_roles_in_the_docs_are_the_bootstraps() -> None:
    from components.day0 import identities

    deploying = (runner.ROOT / "docs" / "deploying.md").read_text()
    assert f"`{identities.STATE_WRITER}` on that bucket only" in deploying
    assert f"`{identities.STATE_READER}`" in deploying


def test_every_page_is_in_the_site_nav() -> None:
    mkdocs = (runner.ROOT / "mkdocs.yml").read_text()
    pages = set(re.findall(r"^  - [^:]+: ([a-z0-9-]+\.md)$", mkdocs, flags=re.M))
    for name in ("teardown.md", "troubleshooting.md", "adding.md", "upgrading.md", "costs.md"):
        assert name in pages
        assert (runner.ROOT / "docs" / name).exists()


def test_no_stack_file_cites_the_old_config_module() -> None:
    for path in runner.ROOT.glob("Pulumi.*.yaml"):
        assert "components/config.py" not in path.read_text(), path.name


def test_observability_condition_counts_are_what_the_stacks_register(
    request: pytest.FixtureRequest,
) -> None:
    text = (runner.ROOT / "docs" / "observability.md").read_text()
    m = re.search(r"dev registers (\d+) conditions, prod (\d+)", text)
    assert m
    counts = []
    for stack in ("dev", "prod"):
        run: runner.Run = request.getfixturevalue(stack)
        policies = run.of_type("gcp:monitoring/alertPolicy:AlertPolicy")
        counts.append(sum(len(p.inputs.get("conditions") or []) for p in policies))
    assert [int(m.group(1)), int(m.group(2))] == counts


@pytest.mark.parametrize(
    "page", ["teardown.md", "troubleshooting.md", "adding.md", "upgrading.md", "costs.md"]
)
def test_new_pages_have_short_sentences_and_no_internal_ids(page: str) -> None:
    text = (runner.ROOT / "docs" / page).read_text()
    assert prose.too_long(text) == []
    assert not re.search(r"\bissue \d+", text, flags=re.I)


def test_no_page_cites_an_internal_issue_number() -> None:
    # Pages other helpers own are checked by their own tests.
    own = ("day0.md", "contract-suite.md", "gpu-sharing.md")
    for page in DOC_PAGES:
        if page.name in own:
            continue
        assert not re.search(r"\bissue \d+|\bthe issue's\b", page.read_text()), page.name


def test_no_page_states_an_ungenerated_contract_suite_timing() -> None:
    for page in DOC_PAGES:
        if page.name == "contract-suite.md":  # its own page, kept by its own tests
            continue
        for line in page.read_text().splitlines():
            if "contract" in line or "tests/airflow" in line:
                assert not re.search(r"\babout \d+ minutes\b|\b\d+m\d+s\b", line), (page.name, line)


def test_the_architecture_layout_names_every_module() -> None:
    text = (runner.ROOT / "docs" / "architecture.md").read_text()
    layout = section(text, "Layout")
    named = set(re.findall(r"\b([a-z_]+\.(?:py|sh))\b", layout))
    modules = {
        p.name
        for folder in ("components", "tools")
        for p in (runner.ROOT / folder).rglob("*")
        if p.suffix in (".py", ".sh") and p.name != "__init__.py"
    }
    assert modules <= named, sorted(modules - named)
    for package in ("config", "gke", "airflow", "observability", "day0"):
        assert f"  {package}/ " in layout, package


def test_the_site_pages_are_the_ones_the_docs_hook_serves() -> None:
    hooks = (runner.ROOT / "tools" / "mkdocs_hooks.py").read_text()
    outside = re.search(r"^OUTSIDE = \{(.*)\}$", hooks, flags=re.M)
    assert outside
    served = set(re.findall(r'"([^"]+\.md)": "[^"]+\.md"', outside.group(1)))
    assert served == {"README.md", "astro/DAG_AUTHORS.md"}
    assert {p.relative_to(runner.ROOT).as_posix() for p in SITE_PAGES} >= served
