"""PyTorch models: the engine every deep model trains on (accelerate + timm), and the models on it."""
