"""One capability per module; stacks compose them."""
