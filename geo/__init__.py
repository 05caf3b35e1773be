"""OpenStreetMap road networks, snapping, travel-time matrices and route geometry."""
