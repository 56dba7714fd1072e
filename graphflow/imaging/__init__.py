"""Image maths shared by nodes and models: tensor <-> PIL conversion and PNG files, masks, tiled inference."""
