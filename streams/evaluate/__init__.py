"""`lifecycle evaluate`: the pipeline's scores on real data, beside baselines."""
