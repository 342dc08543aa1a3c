"""Judging the warehouse's scores against the demo generator's latent truth."""
