//go:build tools

// Package kubebin pins the real Kubernetes control plane that the tests run on loopback.
// It holds no code of those projects: `make kube-bin` builds each command below from the
// Go module proxy at the versions go.mod pins (k8s.io/kubernetes v1.36.3 with every
// k8s.io staging module replaced by its v0.36.3 release, etcd v3.6.8, kwok v0.8.0,
// Kueue v0.19.2) into .kube-bin/.
package kubebin

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "sigs.k8s.io/kueue/cmd/kueue"
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
