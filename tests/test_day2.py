"""Day 2: the replacement options of every resource the stack registers, exactly.

One decision per resource type (docs/change-review.md, "Day 2: what a change replaces"): a generated name where a
replacement must come up beside the old object (node pools), delete-first where a fixed name
cannot coexist with its replacement (cluster, network objects, the connection secret), and Pulumi
`protect` in prod on what a running deployment depends on. A type the stack starts registering
without a decision here fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from offline import runner


@dataclass(frozen=True)
class Options:
    delete_before_replace: bool = False
    ignore_changes: tuple[str, ...] = ()
    protect_in_prod: bool = False


DELETE_FIRST = Options(delete_before_replace=True)

# Every custom resource type either stack registers, with its replacement options.
DECISIONS: dict[str, Options] = {
    "gcp:container/cluster:Cluster": Options(
        delete_before_replace=True,
        ignore_changes=("nodeConfig", "initialNodeCount"),
        protect_in_prod=True,
    ),
    "gcp:container/nodePool:NodePool": Options(ignore_changes=("initialNodeCount",)),
    "gcp:compute/network:Network": DELETE_FIRST,
    "gcp:compute/subnetwork:Subnetwork": DELETE_FIRST,
    "gcp:compute/router:Router": DELETE_FIRST,
    "gcp:compute/routerNat:RouterNat": DELETE_FIRST,
    "gcp:compute/firewall:Firewall": DELETE_FIRST,
    "gcp:secretmanager/secret:Secret": Options(delete_before_replace=True, protect_in_prod=True),
    # A remote deployment's XCom bucket: its name is fixed (the agent values point at it), so a
    # replacement (location or name) deletes first, which force_destroy=false refuses while XComs
    # remain. Protected in prod: running DAG runs read their XComs from it.
    "gcp:storage/bucket:Bucket": Options(delete_before_replace=True, protect_in_prod=True),
    "kubernetes:core/v1:Namespace": Options(protect_in_prod=True),
    # No name of their own, or replaced only together with their (new) name: defaults.
    "gcp:projects/iAMMember:IAMMember": Options(),
    "gcp:projects/iAMCustomRole:IAMCustomRole": Options(),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": Options(),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": Options(),
    "gcp:projects/serviceIdentity:ServiceIdentity": Options(),
    "gcp:secretmanager/secretVersion:SecretVersion": Options(),
    "gcp:secretmanager/secretIamMember:SecretIamMember": Options(),
    "gcp:storage/bucketIAMMember:BucketIAMMember": Options(),
    "kubernetes:core/v1:ResourceQuota": Options(),
    "kubernetes:core/v1:LimitRange": Options(),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": Options(),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": Options(),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": Options(),
    # The in-cluster agent's service accounts: a new name is a new object beside the old one.
    "kubernetes:core/v1:ServiceAccount": Options(),
    "kubernetes:policy/v1:PodDisruptionBudget": Options(),
    # Cluster-scoped, fixed name; a member pool's replacement only updates its priorities.
    "kubernetes:cloud.google.com/v1:ComputeClass": Options(),
    # Observability (issue 20): nothing a running task depends on; names are not fixed by others.
    "gcp:monitoring/alertPolicy:AlertPolicy": Options(),
    "gcp:monitoring/dashboard:Dashboard": Options(),
    "gcp:logging/metric:Metric": Options(),
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": Options(),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": Options(),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": Options(),
    "kubernetes:apps/v1:Deployment": Options(),
    "kubernetes:monitoring.googleapis.com/v1:ClusterPodMonitoring": Options(),
    "pulumi:providers:kubernetes": Options(),
    # Kueue (opt-in GPU sharing): cluster-scoped or per-namespace objects with fixed names; a
    # replacement re-creates them, and queued pods stay gated meanwhile (docs/gpu-sharing.md).
    "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor": Options(),
    "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue": Options(),
    "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue": Options(),
    # Queued provisioning (kueue.provisioning_request): the check and its config, fixed names.
    "kubernetes:kueue.x-k8s.io/v1beta2:AdmissionCheck": Options(),
    "kubernetes:kueue.x-k8s.io/v1beta2:ProvisioningRequestConfig": Options(),
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_resource_has_its_replacement_options(
    stack: str, request: pytest.FixtureRequest
) -> None:
    run: runner.Run = request.getfixturevalue(stack)
    prod = stack == "prod"
    for r in run.registrations:
        if not r.custom:
            continue
        assert r.type in DECISIONS, f"no day-2 decision for {r.type} ({r.name})"
        want = DECISIONS[r.type]
        if r.name.endswith("-kube-state-metrics-namespace"):
            # The metrics exporter's namespace: no running task depends on it (not protected).
            want = Options()
        assert r.delete_before_replace is want.delete_before_replace, r.name
        assert tuple(r.ignore_changes) == want.ignore_changes, r.name
        assert r.protect is (want.protect_in_prod and prod), r.name


def test_prod_protects_each_deployments_live_objects(prod: runner.Run) -> None:
    """Per deployment: its secret and its namespace; per remote deployment also its agent's
    namespace and its XCom bucket; with Kueue on, Kueue's namespace. (Launcher identities are the
    bootstrap's, protected there in every environment: tests/test_day0_accounts.py.)"""
    protected = sorted(r.name for r in prod.registrations if r.protect)
    assert protected == [
        "astro-gpu-prod-batch-remote-agent-namespace",
        "astro-gpu-prod-batch-remote-agent-xcom",
        "astro-gpu-prod-batch-remote-connection",
        "astro-gpu-prod-batch-remote-namespace",
        "astro-gpu-prod-gke",
        "astro-gpu-prod-kueue-ns",
        "astro-gpu-prod-ml-training-connection",
        "astro-gpu-prod-ml-training-namespace",
        "astro-gpu-prod-reporting-connection",
        "astro-gpu-prod-reporting-namespace",
    ]


def test_dev_protects_nothing(dev: runner.Run) -> None:
    assert [r.name for r in dev.registrations if r.protect] == []
