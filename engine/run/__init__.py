"""Side effects, composed: the pipeline (one batch, one transaction), the executor, acks, simulate, replay,
evaluate, and the daemon (``run/daemon/``)."""
