"""Render: a JobSpec and its rows -> Vertex request bodies (templates, images, custom ids, token estimates, revision)."""
