"""One router per resource; `api.main` gathers them."""
