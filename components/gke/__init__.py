"""GKE: the network, the cluster, its node pools and classes, and the GPU catalog they check."""
