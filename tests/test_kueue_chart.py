"""The deploy role covers what Kueue's pinned Helm chart installs.

Mocks render no chart (the Chart component's children come from the Kubernetes provider at
`pulumi up`), so the kinds are read from the chart itself: the pinned Go module's
charts/kueue/templates (tools/kubebin/go.mod, `make kube-bin` fetches it; offline/kueue_chart.py),
with the stack's values. A chart upgrade that adds a kind fails here before the deployer lacks it.
Without the module the tests skip, except in CI (`CI` set), where they fail as tests/kube does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from components import config
from components.config.kueue import KUEUE_VERSION
from components.day0 import deploy_permissions as dp
from components.day0 import escalation
from components.gke import kueue
from offline import kueue_chart, runner
from tests.conftest import CONFIG_KEY


@pytest.fixture(scope="module")
def chart() -> Path:
    found = kueue_chart.module_dir()
    if found is None:
        reason = (
            f"{kueue_chart.MODULE} is not in the Go module cache (tools/kubebin/go.mod): "
            "run `make kube-bin` first"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert found.name == f"kueue@{KUEUE_VERSION}"  # the release the stack installs
    return found / "charts" / "kueue"


def _stack_values(chart: Path) -> dict[str, object]:
    cfg = config.load(runner.stack_config("prod")[CONFIG_KEY])
    namespaces = [d.namespace for d in cfg.deployments]
    return kueue_chart.chart_values(chart, kueue.chart_values(cfg.kueue, namespaces))


@pytest.fixture(scope="module")
def docs(chart: Path) -> list[kueue_chart.Doc]:
    return list(kueue_chart.documents(chart, _stack_values(chart)))


def covered(docs: list[kueue_chart.Doc]) -> list[str]:
    """What the deploy role misses for these documents: a rendered kind without a table entry,
    or a kind that is neither installed (`CHART_KINDS`) nor known to be off."""
    gaps = []
    for t in sorted({d.pulumi_type for d in docs}):
        if t not in kueue.CHART_KINDS and t not in kueue.CHART_KINDS_OFF:
            gaps.append(f"{t}: a kind of the chart neither in CHART_KINDS nor CHART_KINDS_OFF")
    for t in sorted({d.pulumi_type for d in docs if d.rendered}):
        if t not in dp.TABLE:
            gaps.append(f"{t}: installed, no deploy-role entry")
    return gaps


def test_the_chart_installs_exactly_the_listed_kinds(docs: list[kueue_chart.Doc]) -> None:
    rendered = {d.pulumi_type for d in docs if d.rendered}
    assert sorted(rendered) == sorted(kueue.CHART_KINDS)
    assert covered(docs) == []
    # Not vacuous: the chart's 11 CRDs, both webhook configurations, the cert Secret.
    crds = [d for d in docs if d.rendered and d.kind == "CustomResourceDefinition"]
    assert len(crds) == 11
    assert {d.template for d in docs if d.rendered and d.kind == "Secret"} == {
        "internalcert/secret.yaml"
    }
    assert {d.template for d in docs if d.rendered and "Webhook" in d.kind} == {
        "webhook/manifests.yaml"
    }


def test_the_kinds_left_out_are_off_by_the_named_value(docs: list[kueue_chart.Doc]) -> None:
    for type_, value in kueue.CHART_KINDS_OFF.items():
        mine = [d for d in docs if d.pulumi_type == type_]
        assert mine, f"{type_}: the chart has no such kind any more"
        for d in mine:
            assert not d.rendered, (type_, d.template)
            assert any(value in c for c in d.conditions), (type_, d.template, d.conditions)


def test_the_deployer_can_create_update_and_delete_each_installed_kind() -> None:
    held = set(dp.deploy_permissions())
    assert not [p for p in held if "*" in p]  # no wildcard anywhere
    for type_ in kueue.CHART_KINDS:
        entry = dp.TABLE[type_]
        (create,) = [p for p in entry.create if p.endswith(".create")]
        resource = create.removesuffix(".create")
        assert resource.startswith("container."), type_
        for verb in ("create", "get", "update", "delete"):
            assert f"{resource}.{verb}" in held, (type_, verb)


def test_the_escalation_relevant_kinds_name_their_bound() -> None:
    rbac = [t for t in kueue.CHART_KINDS if "rbac.authorization.k8s.io" in t]
    assert len(rbac) == 4
    for t in rbac:
        assert dp.TABLE[t].bound is dp.Bound.RBAC_RULES, t
    for t in (
        "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration",
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration",
        "kubernetes:apiregistration.k8s.io/v1:APIService",
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        "kubernetes:core/v1:Secret",
    ):
        assert dp.TABLE[t].bound is dp.Bound.CLUSTER_ONLY, t
    # The deployer holds the verbs that lift Kubernetes' escalation check (changed on purpose:
    # without them no role of the chart or the stack is admitted, tests/kube/test_deployer_rbac.py),
    # so the chart's roles need no rule held beforehand.
    for lift in (
        "container.clusterRoles.escalate",
        "container.clusterRoles.bind",
        "container.roles.escalate",
        "container.roles.bind",
    ):
        assert lift in escalation.deploy_holds(), lift


def test_a_chart_upgrade_that_adds_a_kind_fails(chart: Path, tmp_path: Path) -> None:
    copy = tmp_path / "kueue"
    shutil.copytree(chart, copy)
    (copy / "templates" / "manager" / "priorityclass.yaml").write_text(
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: x\n"
    )
    (copy / "templates" / "manager" / "cronjob.yaml").write_text(
        "{{- if .Values.enableCronThing }}\napiVersion: batch/v1\nkind: CronJob\n{{- end }}\n"
    )
    docs = list(kueue_chart.documents(copy, _stack_values(copy)))
    assert covered(docs) == [
        "kubernetes:batch/v1:CronJob: a kind of the chart neither in CHART_KINDS nor "
        "CHART_KINDS_OFF",
        "kubernetes:scheduling.k8s.io/v1:PriorityClass: a kind of the chart neither in "
        "CHART_KINDS nor CHART_KINDS_OFF",
        "kubernetes:scheduling.k8s.io/v1:PriorityClass: installed, no deploy-role entry",
    ]
    # The off one (a guard the values do not set) is read as off, the other as installed.
    added = {d.kind: d.rendered for d in docs if d.kind in ("CronJob", "PriorityClass")}
    assert added == {"CronJob": False, "PriorityClass": True}


def test_the_stack_values_decide_what_renders(chart: Path) -> None:
    """The render decision reads the merged values: cert-manager on swaps the internal cert
    Secret for cert-manager's objects."""
    values = _stack_values(chart)
    on = kueue_chart.merge(values, {"enableCertManager": True})
    rendered = {d.pulumi_type for d in kueue_chart.documents(chart, on) if d.rendered}
    assert "kubernetes:cert-manager.io/v1:Certificate" in rendered
    assert not [d for d in kueue_chart.documents(chart, on) if d.rendered and d.kind == "Secret"]


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        (".Values.a", True),
        (".Values.b", False),
        ("not .Values.b", True),
        ("and .Values.a .Values.c.d", True),
        ("and .Values.a .Values.b", False),
        ('and .Values.b (.Capabilities.APIVersions.Has "x/v1/Y")', False),
        ('and .Values.a (.Capabilities.APIVersions.Has "x/v1/Y")', None),
        ("or .Values.b .Values.a", True),
        ("or .Values.b .Values.missing", False),
        ('ne .Values.mode "Disabled"', None),
    ],
)
def test_the_guard_evaluator(expr: str, want: bool | None) -> None:
    values = {"a": True, "b": False, "c": {"d": "yes"}, "mode": "x"}
    assert kueue_chart.evaluate(expr, values) is want


def test_kueues_own_roles_cannot_escalate(chart: Path, docs: list[kueue_chart.Doc]) -> None:
    """What the chart's roles grant Kueue's controller: no wildcard, no verb that lifts the RBAC
    check (escalate, bind, impersonate), no write to RBAC objects; Secrets only through a Role in
    Kueue's own namespace (its webhook certificate)."""
    rules = kueue_chart.rbac_rules(chart, docs)
    assert len(rules) > 100  # not vacuous: the manager role and the editor/viewer roles
    for rule in rules:
        groups, resources, verbs = (rule.get(k, []) for k in ("apiGroups", "resources", "verbs"))
        assert "*" not in groups and "*" not in resources and "*" not in verbs, rule
        assert not set(verbs) & {"escalate", "bind", "impersonate"}, rule
        assert "rbac.authorization.k8s.io" not in groups, rule
    secret_roles = {
        d.template
        for d in docs
        if d.rendered
        and d.kind.endswith("Role")
        and "secrets" in (chart / "templates" / d.template).read_text()
    }
    assert secret_roles == {"rbac/manager_secrets_role.yaml"}
    text = (chart / "templates" / "rbac" / "manager_secrets_role.yaml").read_text()
    assert "kind: Role\n" in text and "namespace: '{{ .Release.Namespace }}'" in text
