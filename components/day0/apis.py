"""The Google APIs a project needs, from the one list `make apis` uses (tools/required_apis.py).
Never disabled on destroy: other workloads in the project may use them."""

from __future__ import annotations

from collections.abc import Iterable

import pulumi
import pulumi_gcp as gcp


class ProjectApis(pulumi.ComponentResource):
    services: list[gcp.projects.Service]

    def __init__(
        self,
        name: str,
        project_id: str,
        apis: Iterable[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("astro-gke-gpu:day0:ProjectApis", name, None, opts)
        self.services = [
            gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=project_id,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in sorted(apis)
        ]
        self.register_outputs({})
