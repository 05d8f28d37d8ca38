"""Grounded product chat: understand the turn (rules), retrieve, prompt a backend with
compact facts, check what it wrote. `ChatEngine` is the entry point."""

from dona.chat.engine import ChatAnswer, ChatEngine, ChatResponse, Conversation, Turn, why_shown

__all__ = ["ChatAnswer", "ChatEngine", "ChatResponse", "Conversation", "Turn", "why_shown"]
