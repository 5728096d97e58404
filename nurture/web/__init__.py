"""The assembled web app: the factory that mounts every router, site pages, health, metrics."""
