"""The service's routers: health, cells (and estimate), jobs, add-in files."""
