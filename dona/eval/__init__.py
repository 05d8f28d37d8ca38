"""Evaluation: retrieval metrics, the phase harness with its 3% gate and autopilot, and
the chat-model evaluation."""
