"""Builders of checkpoints: the shipped default assets and the tiny random models that tests and benchmarks use.

Building is kept apart from running. The runtime packages (``backbone``, ``envs``, ``latent``, ``data``,
``rewards``, and ``lam_agents`` outside the commands that build assets) never import this package; the
environments only load what it wrote (``tests/test_layering.py`` pins that).

* :mod:`~lam_envs.builders.tiny`: tiny random Qwen2.5-VL and LLaVA checkpoints (config, tokenizer, preprocessor).
* :mod:`~lam_envs.builders.sft`: supervised batches of chat examples, encoded as the model's VLM family encodes them.
* :mod:`~lam_envs.builders.default_vlm`: ``lam build-default``, the embedded default VLM's training.
* :mod:`~lam_envs.builders.default_latent`: ``lam pretrain --install``, the shipped latent model's installation.
"""
