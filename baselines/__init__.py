"""Reference baselines: climatology, Bayesian database, gradient boosting, quantile U-Net."""
