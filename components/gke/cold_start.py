"""How long a KubernetesPodOperator task must wait for a GPU pool, and how it retries.

KPO gives a pod `schedule_timeout_seconds` to be scheduled and `startup_timeout_seconds` to start
once scheduled (both default to 120 s in apache-airflow-providers-cncf-kubernetes 10.x,
operators/pod.py), then deletes it and fails the task. A GPU node from zero is far slower: the
pod stays Pending until the autoscaler's new VM has booted, GKE has installed the NVIDIA driver
and the GPUs are allocatable (a node counts as unready until then: kubernetes/autoscaler#461).
So the defaults fail the first GPU task after every idle period.

The budget covers the slow end of each sourced figure (a timeout at the median fails half the cold
starts). Every figure carries its source; `make preview` prints them per pool.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from components.config import GpuPoolConfig


@dataclass(frozen=True)
class Figure:
    seconds: float
    source: str


@dataclass(frozen=True)
class Figures:
    """The inputs of a budget. Tests pass small ones to run the real budget in seconds."""

    node_boot: Figure
    driver_install: Figure
    scale_up_slow_end: Figure
    spot_provision_limit: Figure
    image_pull_slow_end: Figure
    no_scale_up: Figure
    retry_delay: Figure
    preloaded_start: Figure

    def scaled(self, factor: float) -> Figures:
        """Every figure times `factor`: the contract suite runs the real budget on a GPU cold
        start of seconds instead of minutes (e.g. factor 0.01: 9 min of boot and driver -> 5.4 s)."""
        if factor <= 0:
            raise ValueError(f"scale factor must be > 0, got {factor}")
        return replace(
            self,
            **{
                f.name: replace(
                    getattr(self, f.name), seconds=getattr(self, f.name).seconds * factor
                )
                for f in fields(self)
            },
        )


# KubernetesPodOperator's own default wait (startup_timeout_seconds=120, and the schedule timeout
# falls back to it: apache-airflow-providers-cncf-kubernetes 10.25, operators/pod.py).
KPO_DEFAULT_TIMEOUT = 120

SOURCED = Figures(
    node_boot=Figure(
        270, "GPU VM created and joined in about 4.5 min (codalab/codalab-worksheets#4042)"
    ),
    driver_install=Figure(
        270, "GKE's NVIDIA driver install about 4.5 min more (codalab/codalab-worksheets#4042)"
    ),
    scale_up_slow_end=Figure(
        600, "GPU node from zero until allocatable: up to 10 min (apple/axlearn#362)"
    ),
    spot_provision_limit=Figure(
        900,
        "spot capacity can be short: wait as long as the cluster autoscaler itself waits for a "
        "node (--max-node-provision-time, 15 min by default; kubernetes/autoscaler "
        "cluster-autoscaler/FAQ.md) before it gives up on the pool",
    ),
    image_pull_slow_end=Figure(
        900,
        "multi-GB CUDA image pull: 6 GB took 2m21s (confidential-containers/cloud-api-adaptor"
        "#1112), a pytorch-cuda12 pull outgrew a 10 min timeout (chainguard-images/images#2545); "
        "image streaming only helps images in Artifact Registry",
    ),
    no_scale_up=Figure(
        120, "a fixed-size pool never adds a node: KPO's own default (operators/pod.py)"
    ),
    retry_delay=Figure(
        60,
        "choice: one autoscaler loop and a little more (scan interval 10 s, FAQ.md); the retry's "
        "own schedule budget then covers the new node",
    ),
    preloaded_start=Figure(
        120,
        "a preloaded image is read from the node's own secondary boot disk, not pulled (GKE "
        '"Use secondary boot disks"; an image load of about 7 s has been reported, and image '
        "streaming alone started a 5.4 GB image in 30 s instead of 191 s: GoogleCloudPlatform/"
        "ai-on-gke); KPO's default 120 s is ample, for the preloaded images only",
    ),
)

# Choices, not measurements: a spot pool loses pods to preemption as a matter of course; an
# on-demand pool only to repairs and host events.
SPOT_RETRIES = 3
ON_DEMAND_RETRIES = 1


def _whole(seconds: float) -> float:
    """Whole seconds as an int (the sourced figures are whole; scaled ones need not be)."""
    return int(seconds) if float(seconds).is_integer() else seconds


@dataclass(frozen=True)
class Budget:
    schedule_timeout_seconds: float
    startup_timeout_seconds: float
    retries: int
    retry_delay_seconds: float
    # What the schedule and startup budgets are made of: (part, seconds, source).
    parts: tuple[tuple[str, float, str], ...]

    def hints(self) -> dict[str, float]:
        """The KubernetesPodOperator / BaseOperator parameters, by their own names."""
        return {
            "schedule_timeout_seconds": _whole(self.schedule_timeout_seconds),
            "startup_timeout_seconds": _whole(self.startup_timeout_seconds),
            "retries": self.retries,
            "retry_delay_seconds": _whole(self.retry_delay_seconds),
        }


def budget(pool: GpuPoolConfig, figures: Figures = SOURCED) -> Budget:
    """The waits a task on `pool` needs. A warm pool (min_nodes > 0) gets the same scheduling
    budget as one at zero whenever it can still grow: the task after the warm nodes are busy waits
    for a new node like any other. Only a pool that cannot grow (min == max) skips it."""
    parts: list[tuple[str, float, str]] = []
    if pool.max_nodes == pool.min_nodes:
        schedule = figures.no_scale_up.seconds
        parts.append(("schedule: no scale-up", schedule, figures.no_scale_up.source))
    else:
        boot_and_driver = figures.node_boot.seconds + figures.driver_install.seconds
        parts += [
            ("schedule: node boot", figures.node_boot.seconds, figures.node_boot.source),
            ("schedule: driver", figures.driver_install.seconds, figures.driver_install.source),
            (
                "schedule: slow end",
                figures.scale_up_slow_end.seconds,
                figures.scale_up_slow_end.source,
            ),
        ]
        schedule = max(boot_and_driver, figures.scale_up_slow_end.seconds)
        if pool.spot or pool.flex_start:
            # Flex-start capacity comes when it can be found, like spot capacity.
            parts.append(
                (
                    "schedule: spot" if pool.spot else "schedule: flex-start",
                    figures.spot_provision_limit.seconds,
                    figures.spot_provision_limit.source,
                )
            )
            schedule = max(schedule, figures.spot_provision_limit.seconds)
    if pool.preload_disk_image:
        startup = figures.preloaded_start.seconds
        parts.append(("startup: preloaded image", startup, figures.preloaded_start.source))
    else:
        startup = figures.image_pull_slow_end.seconds
        parts.append(("startup: image pull", startup, figures.image_pull_slow_end.source))
    return Budget(
        schedule_timeout_seconds=schedule,
        startup_timeout_seconds=startup,
        retries=SPOT_RETRIES if pool.spot else ON_DEMAND_RETRIES,
        retry_delay_seconds=figures.retry_delay.seconds,
        parts=tuple(parts),
    )
