"""Every query and commit of the service lives here; routes call these functions."""
