"""Request and response bodies, grouped per resource as Base / Create / Update / Public."""
