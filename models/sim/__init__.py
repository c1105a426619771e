"""Simulators for tests, training and benches: the capture simulator (real catalogue scans composited
into camera-like scenes), the multi-card scenes (binder pages, top-loader rows, touching and cut cards
with real card faces) and the look-alike renderer. The product (``app``) never imports them."""
