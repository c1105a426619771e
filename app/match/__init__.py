"""Reference bundles and nearest-neighbour matching."""
