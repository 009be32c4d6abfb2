"""Deployment units. Stacks only compose constructs and add cross-cutting concerns (tags, outputs)."""
