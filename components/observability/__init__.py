"""Observability: GPU and pod-state metrics, alert policies and the dashboard."""
