"""Drive the policy pack through its real Analyzer gRPC service, the way the Pulumi engine does:
start `policies/__main__.py` with the pack directory as cwd, read the port it prints, then call
GetAnalyzerInfo, Configure, Analyze for each resource and AnalyzeStack once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from offline.mocks import Registration
from offline.runner import ROOT

PACK_DIR = ROOT / "policies"
LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
    analyzer_pb2.REMEDIATE: "remediate",
}


@dataclass(frozen=True, order=True)
class Verdict:
    level: str
    policy: str
    urn: str
    message: str


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)  # C implementation; the values are JSON already (wire form)
    return struct


def _options(r: Registration) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=r.protect, ignoreChanges=r.ignore_changes, parent=r.parent
    )


def analyze_request(
    r: Registration, properties: Mapping[str, Any] | None = None
) -> analyzer_pb2.AnalyzeRequest:
    """What the engine sends to analyze one resource (`properties` replace its own)."""
    return analyzer_pb2.AnalyzeRequest(
        type=r.type,
        properties=_struct(r.wire if properties is None else properties),
        urn=r.urn,
        name=r.name,
        options=_options(r),
    )


def stack_request(registrations: Iterable[Registration]) -> analyzer_pb2.AnalyzeStackRequest:
    """What the engine sends to analyze the whole stack."""
    return analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                properties=_struct(r.wire),
                urn=r.urn,
                name=r.name,
                options=_options(r),
                parent=r.parent,
                dependencies=r.dependencies,
            )
            for r in registrations
        ]
    )


class PolicyPackServer:
    """A running policy pack. Use as a context manager; the process is stopped on exit."""

    def __init__(
        self, pack_dir: Path = PACK_DIR, python: str = sys.executable, timeout: float = 60
    ):
        self.pack_dir = pack_dir
        self.python = python
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._lock = threading.Lock()
        self._pending: list[tuple[str, grpc.Future]] = []

    def __enter__(self) -> PolicyPackServer:
        """Starts the pack; connecting waits until its first use, so the pack boots while the
        caller does other work."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [self.python, "__main__.py"],
            cwd=self.pack_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        return self

    def _connect(self) -> analyzer_pb2_grpc.AnalyzerStub:
        assert self.process is not None and self.process.stdout is not None, (
            "use as a context manager"
        )
        line = self.process.stdout.readline().decode().strip()
        if not line.isdigit():
            self.process.kill()
            _, err = self.process.communicate(timeout=self.timeout)
            raise RuntimeError(f"policy pack did not print a port: {line!r}\n{err.decode()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}")
        grpc.channel_ready_future(self.channel).result(timeout=self.timeout)
        return analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.channel is not None:
            self.channel.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    @property
    def _stub(self) -> analyzer_pb2_grpc.AnalyzerStub:
        with self._lock:
            if self.stub is None:
                self.stub = self._connect()
            return self.stub

    def submit(self, r: Registration) -> None:
        """Send Analyze for `r` without waiting (the engine, too, analyzes each resource as it is
        registered): the pack works on it in its own process while the caller goes on.
        `collect` returns the verdicts of everything submitted."""
        future = self._stub.Analyze.future(analyze_request(r), timeout=self.timeout)
        self._pending.append((r.urn, future))

    def collect(self, registrations: list[Registration]) -> list[Verdict]:
        """Verdicts of every submitted resource, then of the whole stack, in a stable order."""
        verdicts = [v for urn, future in self._pending for v in _verdicts(future.result(), urn)]
        self._pending = []
        return sorted(verdicts + self.analyze_stack(registrations))

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        return self._stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=self.timeout)

    def configure(self, config: Mapping[str, Mapping[str, Any]]) -> None:
        """Per-policy config, as the CLI sends it: {"policy-name": {"key": value, ...}}."""
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, props in config.items():
            request.policyConfig[name].CopyFrom(
                analyzer_pb2.PolicyConfig(
                    enforcementLevel=analyzer_pb2.MANDATORY, properties=_struct(props)
                )
            )
        self._stub.Configure(request, timeout=self.timeout)

    def analyze(
        self, r: Registration, properties: Mapping[str, Any] | None = None
    ) -> list[Verdict]:
        request = analyze_request(r, properties)
        return _verdicts(self._stub.Analyze(request, timeout=self.timeout), r.urn)

    def analyze_stack(self, registrations: Iterable[Registration]) -> list[Verdict]:
        request = stack_request(registrations)
        return _verdicts(self._stub.AnalyzeStack(request, timeout=self.timeout), "")

    def analyze_all(self, registrations: list[Registration]) -> list[Verdict]:
        """What the engine does over a whole deployment: every resource, then the stack."""
        verdicts = [v for r in registrations for v in self.analyze(r)]
        return sorted(verdicts + self.analyze_stack(registrations))


def _verdicts(response: analyzer_pb2.AnalyzeResponse, default_urn: str) -> list[Verdict]:
    return [
        Verdict(
            LEVELS.get(d.enforcementLevel, str(d.enforcementLevel)),
            d.policyName,
            d.urn or default_urn,
            d.message,
        )
        for d in response.diagnostics
    ]
