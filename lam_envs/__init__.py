"""lam-gym: Gymnasium environments for RL over latent actions in vision-language conversational agents.

Importing the package registers the ``lam/`` environment ids with Gymnasium (string entry points: cheap).
"""

from __future__ import annotations

from lam_envs.envs.registration import ENV_IDS, register_envs

register_envs()

__all__ = ["ENV_IDS"]
