"""Secret Manager: the connection secret and its versions (terraform-provider-google)."""

from __future__ import annotations

from offline.forcenew_tables.fields import RB, UB, Field, R, U

# google/services/secretmanager/resource_secret_manager_secret.go
# @ 01ddfb1d26a17bde690190c8ab82efd76f539471
SECRET: dict[str, Field] = {
    "secretId": R,
    "project": R,
    "replication": RB,
    "replication.auto": RB,
    "replication.auto.customerManagedEncryption": UB,
    "replication.auto.customerManagedEncryption.kmsKeyName": U,
    "replication.userManaged": RB,
    "replication.userManaged.replicas": RB,
    "replication.userManaged.replicas.location": R,
    "replication.userManaged.replicas.customerManagedEncryption": UB,
    "replication.userManaged.replicas.customerManagedEncryption.kmsKeyName": U,
    "ttl": R,
    "labels": U,
    "annotations": U,
    "versionAliases": U,
    "expireTime": U,
    "topics": U,
    "rotation": U,
}

# google/services/secretmanager/resource_secret_manager_secret_version.go
# @ 158d84c7f71a14ef8d9a429db544ef293a271d42
SECRET_VERSION: dict[str, Field] = {
    "secret": R,
    "secretData": R,
    "isSecretDataBase64": R,
    "enabled": U,
    "deletionPolicy": U,
}
