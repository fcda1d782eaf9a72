"""Optional CMEK for the connection secrets: the Secret Manager service agent may use the
configured keys (each grant on its key only). Secrets wait for these grants."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.config import SecretManagerConfig

KMS_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True)
class SecretManagerKeysArgs:
    project_id: str
    config: SecretManagerConfig


class SecretManagerKeys(pulumi.ComponentResource):
    grants: list[gcp.kms.CryptoKeyIAMMember]

    def __init__(
        self, name: str, args: SecretManagerKeysArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("astro-gke-gpu:secrets:SecretManagerKeys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        agent = gcp.projects.ServiceIdentity(
            f"{name}-agent",
            project=args.project_id,
            service="secretmanager.googleapis.com",
            opts=child,
        )
        self.grants = [
            gcp.kms.CryptoKeyIAMMember(
                f"{name}-{key.split('/')[3]}",
                crypto_key_id=key,
                role=KMS_ROLE,
                member=agent.member,
                opts=child,
            )
            for key in args.config.kms_keys
        ]
        self.register_outputs({"agent": agent.member})
