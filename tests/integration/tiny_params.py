"""Tiny params for DVC integration runs: every pipeline's demo at a size that runs in seconds."""

TINY = {
    "vae": {
        "model_name": "vae_tiny",
        "model": {"latent_dim": 4, "hidden_dim": 8, "num_layers": 1},
        "train": {"epochs": 2, "warmup_epochs": 1, "batch_size": 64},
    },
}
