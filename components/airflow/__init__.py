"""The Airflow access path: per-deployment identity, namespace, RBAC, connection secret, agent, XCom."""
