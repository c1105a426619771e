"""Simulators for tests, training and benches: the capture simulator (real catalogue scans composited
into camera-like scenes) and the look-alike renderer. The product (``app``) never imports them."""
