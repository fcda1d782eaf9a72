"""The force-new table of offline/forcenew.py, one module per provider resource family: each
entry cites the provider source it was read from."""
