"""Training (`lerobot-core train`) and offline evaluation (`lerobot-core eval-offline`)."""
