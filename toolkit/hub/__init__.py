"""Publishing, appending and downloading wmhub datasets: Hugging Face Hub or a local hub directory."""
