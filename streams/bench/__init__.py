"""`lifecycle bench`: throughput, latency and memory of the pipeline, measured."""
