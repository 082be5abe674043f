"""omni's eyes: cameras and what is seen in them."""
