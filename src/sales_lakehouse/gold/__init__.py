"""Silver -> gold marts: pure transforms, one module per mart family."""
