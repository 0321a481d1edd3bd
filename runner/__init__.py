"""claude-jobs: declarative Claude-on-Vertex-AI jobs."""

__version__ = "0.1.0"
