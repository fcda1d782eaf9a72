"""Observability: alert policies, the dashboard, the preemption log metric and the XCom buckets'
Data Access audit config (components/observability/observability.py, xcom_bucket.py; terraform-provider-google)."""

from __future__ import annotations

from offline.forcenew_tables.fields import UB, Field, R, U

# google/services/monitoring/resource_monitoring_alert_policy.go @ 34ff2886b1: an Update function;
# ForceNew on `project` only. Conditions, documentation, channels, severity and labels update.
ALERT_POLICY: dict[str, Field] = {
    "project": R,
    "displayName": U,
    "combiner": U,
    "enabled": U,
    "severity": U,
    "notificationChannels": U,
    "userLabels": U,
    "documentation": UB,
    "documentation.content": U,
    "documentation.mimeType": U,
    "documentation.subject": U,
    "conditions": UB,
    "conditions.displayName": U,
    "conditions.conditionPrometheusQueryLanguage": UB,
    **{
        f"conditions.conditionPrometheusQueryLanguage.{k}": U
        for k in (
            "query",
            "duration",
            "evaluationInterval",
            "ruleGroup",
            "alertRule",
            "labels",
            "disableMetricValidation",
        )
    },
}

# google/services/monitoring/resource_monitoring_dashboard.go @ 42208ee786: `dashboard_json`
# updates (Update function), `project` ForceNew.
DASHBOARD: dict[str, Field] = {"project": R, "dashboardJson": U}

# google/services/logging/resource_logging_metric.go @ 34ff2886b1: ForceNew on `project` and on a
# descriptor label's key and value_type; name, filter, description and the descriptor update.
LOG_METRIC: dict[str, Field] = {
    "project": R,
    "name": U,
    "description": U,
    "filter": U,
    "metricDescriptor": UB,
    "metricDescriptor.metricKind": U,
    "metricDescriptor.valueType": U,
    "metricDescriptor.unit": U,
    "metricDescriptor.displayName": U,
}

# google/tpgiamresource/resource_iam_audit_config.go @ b7e40fdaa8 (service and audit_log_config
# without ForceNew; an Update function) with google/services/resourcemanager/iam_project.go
# @ 4efffe5be2 (`project` ForceNew).
AUDIT_CONFIG: dict[str, Field] = {
    "project": R,
    "service": U,
    "auditLogConfigs": UB,
    "auditLogConfigs.logType": U,
    "auditLogConfigs.exemptedMembers": U,
}
