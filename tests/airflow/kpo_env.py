"""The environment one KubernetesPodOperator run (kpo_run.py) sets up for itself: a PATH without
a program, a migrated metadata database, a pod's in-cluster view, and the stack file of an agent
that runs outside the cluster."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def path_without(program: str, workdir: Path) -> str:
    """PATH with every directory that holds `program` replaced by a copy (symlinks) without it."""
    dirs = []
    for index, entry in enumerate(os.environ["PATH"].split(os.pathsep)):
        if entry and (Path(entry) / program).exists():
            shadow = workdir / f"path-{index}"
            shadow.mkdir(parents=True, exist_ok=True)
            for item in Path(entry).iterdir():
                if item.name != program and not (shadow / item.name).exists():
                    (shadow / item.name).symlink_to(item)
            entry = str(shadow)
        dirs.append(entry)
    return os.pathsep.join(dirs)


def migrate_db(home: Path) -> Path:
    """`airflow db migrate` into `home` (its own process: Airflow reads AIRFLOW_HOME at import)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env={**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
    )
    return home / "airflow.db"


def in_cluster_env(token: str, ca_pem: bytes, work: Path, address: str) -> dict[str, str]:
    """A pod's in-cluster view, as the Kubernetes clients read it: KUBERNETES_SERVICE_HOST/PORT and
    the service-account token and CA files. The files are where the clients' loaders are told to
    look (their module constants), since /var/run/secrets is not ours to write here."""
    from fake_secret_manager import made_up_adc
    from kubernetes.config import incluster_config
    from kubernetes_asyncio.config import incluster_config as async_incluster_config

    secrets_dir = work / "serviceaccount"
    secrets_dir.mkdir(parents=True, exist_ok=True)
    (secrets_dir / "token").write_text(token)
    (secrets_dir / "ca.crt").write_bytes(ca_pem)
    for module in (incluster_config, async_incluster_config):
        module.SERVICE_TOKEN_FILENAME = str(secrets_dir / "token")
        module.SERVICE_CERT_FILENAME = str(secrets_dir / "ca.crt")
    # Workload Identity on GKE hands the agent Google credentials through the metadata server;
    # here made-up user credentials stand in (only the Secret Manager call is answered, by the
    # fake, which takes them for the agent's principal).
    adc = made_up_adc(work / "adc.json")
    host, port = address.split(":")
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "GOOGLE_APPLICATION_CREDENTIALS": str(adc),
        "HOME": str(work),
    }


def external_agent_stack(args: argparse.Namespace, work: Path) -> Path:
    """The stack file with `args.deployment` turned into a Remote Execution deployment whose agent
    runs elsewhere as `args.external_agent` (config as docs/remote-execution.md shows it)."""
    import yaml

    raw = yaml.safe_load((HERE.parents[1] / f"Pulumi.{args.stack}.yaml").read_text())
    for d in raw["config"]["astro-gke-gpu:platform"]["deployments"]:
        if d["name"] == args.deployment:
            d.pop("astro_identity")
            d.update(
                execution="remote",
                agent={"placement": "external", "google_service_account": args.external_agent},
            )
    path = work / f"Pulumi.{args.stack}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path
