"""The GitOps commands on top of the executors: plan, its formats, apply."""
