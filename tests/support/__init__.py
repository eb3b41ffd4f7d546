"""Test tools: the Bot API emulator and a chat-like client to drive the bot through it."""
