"""The Pulumi program of the claude-jobs platform (run by Pulumi from `__main__.py`)."""
