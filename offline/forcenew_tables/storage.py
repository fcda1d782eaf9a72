"""Cloud Storage: the XCom buckets of Remote Execution deployments (terraform-provider-google)."""

from __future__ import annotations

from typing import Any

from offline.forcenew_tables.fields import RB, UB, Field, R, U


def _retention_unlocked(old: Any, new: Any) -> bool:
    return old is True and new is not True


# google/services/storage/resource_storage_bucket.go
# @ 0262be693c00e5902e2190d2ae307d6112467e31: ForceNew on name, location, project,
# enable_object_retention, custom_placement_config.data_locations and hierarchical_namespace
# (+ enabled); CustomizeDiff `ForceNewIfChange("retention_policy.0.is_locked", isPolicyLocked)`
# replaces when a locked policy is unlocked. Everything else (encryption, lifecycle rules, labels,
# storage class, uniform access, public access prevention, soft delete, force_destroy) updates.
BUCKET: dict[str, Field] = {
    "name": R,
    "project": R,
    "location": R,
    "enableObjectRetention": R,
    "customPlacementConfig": UB,
    "customPlacementConfig.dataLocations": R,
    "hierarchicalNamespace": RB,
    "hierarchicalNamespace.enabled": R,
    "retentionPolicy": UB,
    "retentionPolicy.isLocked": Field(
        False, when=_retention_unlocked, note="replaced when a locked policy is unlocked"
    ),
    "retentionPolicy.retentionPeriod": U,
    "encryption": UB,
    "encryption.defaultKmsKeyName": U,
    "requesterPays": U,
    "forceDestroy": U,
    "labels": U,
    "storageClass": U,
    "lifecycleRules": UB,
    "lifecycleRules.action": UB,
    "lifecycleRules.action.type": U,
    "lifecycleRules.action.storageClass": U,
    "lifecycleRules.condition": UB,
    **{
        f"lifecycleRules.condition.{k}": U
        for k in (
            "age",
            "createdBefore",
            "customTimeBefore",
            "daysSinceCustomTime",
            "daysSinceNoncurrentTime",
            "noncurrentTimeBefore",
            "withState",
            "matchesStorageClasses",
            "numNewerVersions",
            "matchesPrefixes",
            "matchesSuffixes",
            "sendAgeIfZero",
            "sendDaysSinceNoncurrentTimeIfZero",
            "sendDaysSinceCustomTimeIfZero",
            "sendNumNewerVersionsIfZero",
        )
    },
    "versioning": UB,
    "versioning.enabled": U,
    "autoclass": UB,
    "autoclass.enabled": U,
    "autoclass.terminalStorageClass": U,
    "website": UB,
    "website.mainPageSuffix": U,
    "website.notFoundPage": U,
    "cors": UB,
    "cors.origins": U,
    "cors.methods": U,
    "cors.responseHeaders": U,
    "cors.maxAgeSeconds": U,
    "defaultEventBasedHold": U,
    "logging": UB,
    "logging.logBucket": U,
    "logging.logObjectPrefix": U,
    "uniformBucketLevelAccess": U,
    "rpo": U,
    "publicAccessPrevention": U,
    "softDeletePolicy": UB,
    "softDeletePolicy.retentionDurationSeconds": U,
}
