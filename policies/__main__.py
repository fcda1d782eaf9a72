"""Entry point the Pulumi engine runs (cwd = this directory): serve the analyzer, print the port."""

from astro_gke_policies.pack import serve

serve()
