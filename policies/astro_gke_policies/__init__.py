"""CrossGuard policies for the Astro GPU GKE stack."""
