"""Several active directors behind a router's ECMP route: BIRD announces the VIPs this director serves."""
