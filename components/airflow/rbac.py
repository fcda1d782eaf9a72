"""The namespaced Role a KubernetesPodOperator launcher needs: exactly what it calls, nothing else.

Source: the API calls KPO makes (providers/cncf/kubernetes operators/pod.py, utils/pod_manager.py,
triggers/pod.py): list pods by label, create, get (poll), patch labels, delete; read pods/log;
list events. Deferrable triggers also watch events. `do_xcom_push` execs into the sidecar over a
websocket: the Python client opens it as GET, Kubernetes >= 1.35 authorizes it as create too.
No wildcards, no secrets, no escalate/bind/impersonate, never a ClusterRole.
"""

from __future__ import annotations

from typing import TypedDict


class Rule(TypedDict):
    apiGroups: list[str]
    resources: list[str]
    verbs: list[str]


def launcher_rules(*, xcom: bool, deferrable: bool) -> list[Rule]:
    rules: list[Rule] = [
        {
            "apiGroups": [""],
            "resources": ["pods"],
            "verbs": ["create", "delete", "get", "list", "patch"],
        },
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {
            "apiGroups": [""],
            "resources": ["events"],
            "verbs": ["list", "watch"] if deferrable else ["list"],
        },
    ]
    if xcom:
        rules.append({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]})
    return rules
